// Package proc starts and stops the child processes streambatch's dev
// stack and tests rely on (PostgreSQL, versitygw, the Temporal dev server,
// the Temporal UI server), finds the pinned tool binaries, and picks free
// loopback ports. A child never outlives its parent: it gets SIGKILL when
// the parent dies.
package proc
