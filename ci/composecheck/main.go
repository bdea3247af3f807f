// Command composecheck validates a docker-compose file the way Docker
// Compose does (compose-spec/compose-go: schema, interpolation, references
// between services), for CI machines without a Docker engine. It is its own
// module so the service's module graph stays lean.
//
// Usage: go run . [-secret NAME]... FILE
//
// Each -secret names a variable the file must require (no default): the
// file must fail to load without it, and loads with a placeholder for it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

type names []string

func (n *names) String() string     { return strings.Join(*n, ",") }
func (n *names) Set(v string) error { *n = append(*n, v); return nil }

func load(file string, env []string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithName("composecheck"), cli.WithResolvedPaths(true), cli.WithEnv(env))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

func main() {
	var secrets names
	flag.Var(&secrets, "secret", "a variable the file must require (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: composecheck [-secret NAME]... FILE")
		os.Exit(2)
	}
	file := flag.Arg(0)
	env := make([]string, len(secrets))
	for k, s := range secrets {
		env[k] = s + "=placeholder-placeholder-placeholder-placeholder"
	}
	p, err := load(file, env)
	if err != nil {
		fmt.Fprintln(os.Stderr, "invalid compose file:", err)
		os.Exit(1)
	}
	// No default secrets: without each one, the file must not load.
	for k, s := range secrets {
		without := slices.Delete(slices.Clone(env), k, k+1)
		if _, err := load(file, without); err == nil || !strings.Contains(err.Error(), s) {
			fmt.Fprintf(os.Stderr, "%s loads without %s (%v): it must be required, with no default\n", file, s, err)
			os.Exit(1)
		}
	}
	names := p.ServiceNames()
	slices.Sort(names)
	fmt.Printf("%s: valid, services %v; requires %v\n", file, names, []string(secrets))
}
