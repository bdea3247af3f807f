// This folder is a Node project. Its own (empty) Go module keeps `go ... ./...`
// of the main module out of node_modules, where @temporalio/core-bridge ships
// Go sources of its own.
module streambatch.invalid/taskworker-ts

go 1.26.0
