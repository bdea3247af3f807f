// Command composecheck validates a docker-compose file the way Docker
// Compose does (compose-spec/compose-go: schema, interpolation, references
// between services), for CI machines without a Docker engine. It is its own
// module so the service's module graph stays lean.
//
// Usage: go run . ../../docker-compose.yml
package main

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck FILE")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithName("composecheck"), cli.WithResolvedPaths(true))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "invalid compose file:", err)
		os.Exit(1)
	}
	names := p.ServiceNames()
	slices.Sort(names)
	fmt.Printf("%s: valid, services %v\n", os.Args[1], names)
}
