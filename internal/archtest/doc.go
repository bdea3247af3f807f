// Package archtest writes down the module's layers and checks them: its
// test puts every package in one layer, bottom first, and fails on any
// import that runs back up, on workflow code that imports I/O, on a flow
// that imports another flow, and on a production binary that carries the
// benchmark or test tooling. It has no code of its own and nothing
// imports it.
package archtest
