// Package batch is the shared vocabulary of streambatch: batch and run
// states, the item a Phase 2 stream carries and its options (the
// trigger.dev option schema, read once into ItemOptions), chunk
// references, the set of accepted indexes, identifiers and object-key
// naming.
//
// It does no I/O and imports nothing heavier than the standard library and
// jsonscan, so every other package (including workflow code) may
// depend on it.
package batch
