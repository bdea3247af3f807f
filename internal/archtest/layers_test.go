package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/streambatch/streambatch"

// layer is a set of the module's packages. A pattern names a package by its
// path in the module, or with "/..." the package and those under it; the
// longest matching pattern decides a package's layer.
type layer struct {
	name string
	// rule says what a package of this layer imports (its own layer and
	// the layers below), as a failure names it.
	rule string
	pkgs []string
}

// layers are the module's layers, bottom first. A package imports only
// packages of its own layer or of a layer below it. internal/ says who may
// import a package (only this module), not how low it sits: internal/app
// wires everything and is at the top, internal/sealbox is a library.
var layers = []layer{
	{
		name: "public",
		rule: "public packages are what users import (the vocabulary, the wire types, the codec, task workers' packages, the Go client) and import only each other",
		pkgs: []string{"batch", "wire", "codec", "jsonscan", "tasks/...", "client"},
	},
	{
		name: "libraries",
		rule: "the server's building blocks import only the public packages and each other",
		pkgs: []string{"internal/config", "internal/store/...", "internal/blob", "internal/metrics", "internal/ndjson", "internal/sealbox"},
	},
	{
		name: "workflows",
		rule: "workflow code imports only the public packages and workflows/flow",
		pkgs: []string{"workflows/..."},
	},
	{
		name: "activities",
		rule: "activities import the public packages, the libraries and the workflows' contracts",
		pkgs: []string{"activities/..."},
	},
	{
		name: "services",
		rule: "the API, its ingest pipeline and the worker import the layers below them, never the tooling or the wiring",
		pkgs: []string{"internal/ingest", "api", "worker"},
	},
	{
		name: "tooling",
		rule: "dev and test tooling (service starters, test environment, history replay) imports nothing of the wiring; only tests and the wiring import it",
		pkgs: []string{"internal/proc", "internal/versitygw", "internal/temporaldev", "internal/temporalserver",
			"internal/devstack", "internal/testenv", "workflows/flow/flowtest", "internal/archtest"},
	},
	{
		name: "wiring",
		rule: "the wiring from configuration, the commands, the benchmark, the examples and the end-to-end tests may import everything",
		pkgs: []string{"internal/app", "internal/bench", "cmd/...", "examples/...", "e2e/..."},
	},
}

// pkg is what go list says about one of the module's packages, with paths
// relative to the module.
type pkg struct {
	path        string
	imports     []string // of the package's own code
	deps        []string // every package its own code depends on, directly or not
	testImports []string // of its tests, both in-package and _test
}

// listPackages runs go list on the module and keeps the imports inside it.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps,TestImports,XTestImports", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	rel := func(paths []string) []string {
		var in []string
		for _, p := range paths {
			if r, ok := relPath(p); ok {
				in = append(in, r)
			}
		}
		return in
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath                               string
			Imports, Deps, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		path, _ := relPath(p.ImportPath)
		pkgs = append(pkgs, pkg{path: path, imports: rel(p.Imports), deps: rel(p.Deps), testImports: rel(append(p.TestImports, p.XTestImports...))})
	}
	return pkgs
}

// relPath returns an import path relative to the module, and whether it is
// inside the module.
func relPath(importPath string) (string, bool) {
	if importPath == module {
		return ".", true
	}
	return strings.CutPrefix(importPath, module+"/")
}

// matches reports whether pattern names path, and how specifically.
func matches(pattern, path string) (int, bool) {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return len(base), path == base || strings.HasPrefix(path, base+"/")
	}
	return len(pattern) + 1, path == pattern // an exact name beats a "/..." of the same folder
}

// layerOf returns the index of path's layer in layers, or -1.
func layerOf(path string) int {
	best, bestLen := -1, -1
	for i, l := range layers {
		for _, p := range l.pkgs {
			if n, ok := matches(p, path); ok && n > bestLen {
				best, bestLen = i, n
			}
		}
	}
	return best
}

// flowOf returns the flow folder of a package under workflows/ ("ingest",
// "runs", "sweep", or "flow" for what they share), or "".
func flowOf(path string) string {
	rest, ok := strings.CutPrefix(path, "workflows/")
	if !ok {
		return ""
	}
	flow, _, _ := strings.Cut(rest, "/")
	return flow
}

func TestLayers(t *testing.T) {
	pkgs := listPackages(t)
	paths := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		paths = append(paths, p.path)
	}

	t.Run("every package has a layer", func(t *testing.T) {
		for _, p := range paths {
			if layerOf(p) < 0 {
				t.Errorf("package %s has no layer: add it to layers in internal/archtest/layers_test.go", p)
			}
		}
	})

	t.Run("every pattern names a package", func(t *testing.T) {
		for _, l := range layers {
			for _, pattern := range l.pkgs {
				if !slices.ContainsFunc(paths, func(p string) bool { _, ok := matches(pattern, p); return ok }) {
					t.Errorf("layer %s names %s, which is no package of the module: remove or rename it", l.name, pattern)
				}
			}
		}
	})

	t.Run("public packages are not internal", func(t *testing.T) {
		for _, pattern := range layers[0].pkgs {
			if pattern == "internal" || strings.HasPrefix(pattern, "internal/") || strings.Contains(pattern, "/internal/") {
				t.Errorf("layer public names %s: users cannot import an internal package", pattern)
			}
		}
	})

	t.Run("imports run down the layers", func(t *testing.T) {
		checked, up := 0, 0
		for _, p := range pkgs {
			from := layerOf(p.path)
			if from < 0 {
				continue
			}
			for _, imp := range p.imports {
				to := layerOf(imp)
				checked++
				if to > from {
					up++
					t.Errorf("%s (%s) imports %s (%s), a layer above it: %s",
						p.path, layers[from].name, imp, layers[to].name, layers[from].rule)
				}
			}
		}
		t.Logf("%d imports inside the module, %d run back up", checked, up)
	})

	t.Run("workflow code does no I/O", func(t *testing.T) {
		workflows, libraries := layerIndex(t, "workflows"), layerIndex(t, "libraries")
		for _, p := range pkgs {
			if layerOf(p.path) != workflows {
				continue
			}
			for _, imp := range slices.Concat(p.imports, p.testImports) {
				if strings.HasPrefix(imp, "activities/") || layerOf(imp) == libraries {
					t.Errorf("%s (or its tests) imports %s: workflow code never imports activities/ or a library that does I/O; the activities do it", p.path, imp)
				}
			}
		}
	})

	t.Run("flows meet only in workflows/flow", func(t *testing.T) {
		for _, p := range pkgs {
			from := flowOf(p.path)
			if from == "" {
				continue
			}
			for _, imp := range slices.Concat(p.imports, p.testImports) {
				if to := flowOf(imp); to != "" && to != from && to != "flow" {
					t.Errorf("%s (or its tests) imports %s: a flow's workflow package never imports another flow's; what they share lives in workflows/flow", p.path, imp)
				}
			}
		}
	})

	t.Run("the production binary carries no benchmark and no test tooling", func(t *testing.T) {
		i := slices.IndexFunc(pkgs, func(p pkg) bool { return p.path == productionBinary })
		if i < 0 {
			t.Fatalf("no package %s", productionBinary)
		}
		for _, dep := range pkgs[i].deps {
			if slices.Contains(notInProduction, dep) {
				t.Errorf("%s depends on %s: the benchmark has its own command (cmd/streambatch-bench), and test tooling stays in tests", productionBinary, dep)
			}
		}
	})
}

// productionBinary is the package of the streambatch binary, which must not
// carry the packages notInProduction lists.
const productionBinary = "cmd/streambatch"

var notInProduction = []string{"internal/bench", "internal/testenv", "workflows/flow/flowtest", "internal/archtest"}

// layerIndex returns the index of the layer called name.
func layerIndex(t *testing.T, name string) int {
	t.Helper()
	i := slices.IndexFunc(layers, func(l layer) bool { return l.name == name })
	if i < 0 {
		t.Fatalf("no layer %q", name)
	}
	return i
}
