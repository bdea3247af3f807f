// Package db is the typed Go that sqlc generates from store/queries/*.sql
// (`make sqlc`; every other file here is generated: do not edit them). Only
// package store calls it: the store's methods are the API the rest of
// streambatch uses.
package db
