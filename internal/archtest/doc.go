// Package archtest writes down the module's layers and checks them: its
// test lists every package in one layer, bottom first, and fails on any
// import that runs back up, on workflow code that imports I/O, and on a
// flow that imports another flow. It has no code of its own and nothing
// imports it.
package archtest
