package e2e

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/streambatch/streambatch/internal/config"
	"github.com/streambatch/streambatch/internal/proc"
	"github.com/streambatch/streambatch/internal/temporalserver"
	"github.com/streambatch/streambatch/workflows/flow"
)

// composeFile is the part of docker-compose.yml this test reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     yaml.Node         `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

// docker-compose.yml cannot run here (no Docker engine); ci/composecheck
// validates it as Docker Compose would, and this test pins it to the
// deployment that does run here, the production-topology suite
// (faults_cluster_test.go), so the two cannot drift apart: the same Temporal
// server, admin tools, UI and versitygw versions as the pinned tools; the
// same schema commands as internal/temporalserver; the namespace job
// registering exactly the workflows' search attributes; streambatch's
// services running serve, worker and migrate with only variables the
// configuration knows, and a valid configuration for each; and the API and
// worker starting only after the migration and the namespace job.
func TestComposeMatchesClusterTopology(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	svc := f.Services
	version := func(tool proc.Tool) string { return strings.TrimPrefix(tool.Version, "v") }
	for name, want := range map[string]string{
		"temporal":           "temporalio/server:" + version(proc.TemporalServer),
		"temporal-schema":    "temporalio/admin-tools:" + version(proc.TemporalServer),
		"temporal-namespace": "temporalio/admin-tools:" + version(proc.TemporalServer),
		"temporal-ui":        "temporalio/ui:" + version(proc.UIServer),
		"s3":                 "versity/versitygw:" + proc.VersityGW.Version,
	} {
		if got := svc[name].Image; got != want {
			t.Errorf("service %s: image %q, want %q (the version the tests run)", name, got, want)
		}
	}

	schemaJob := script(t, svc["temporal-schema"].Command)
	for db, schema := range map[string]string{"temporal": temporalserver.SchemaDefault, "temporal_visibility": temporalserver.SchemaVisibility} {
		for _, step := range temporalserver.SchemaSteps(schema) {
			if want := "--db " + db + " " + strings.Join(step, " "); !strings.Contains(schemaJob, want) {
				t.Errorf("the schema job does not run %q", want)
			}
		}
	}
	var names []string
	for _, k := range flow.SearchAttributes {
		names = append(names, k.GetName())
	}
	nsJob := script(t, svc["temporal-namespace"].Command)
	if want := "for sa in " + strings.Join(names, " ") + ";"; !strings.Contains(nsJob, want) || !strings.Contains(nsJob, "--type Keyword") {
		t.Errorf("the namespace job does not register %v as Keyword:\n%s", names, nsJob)
	}

	known := map[string]bool{}
	if _, err := config.FromEnv(func(k string) string { known[k] = true; return "" }); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		command []string
		need    config.Need
	}{
		"api":     {[]string{"serve"}, config.NeedDatabase | config.NeedS3 | config.NeedTemporal | config.NeedJWT},
		"worker":  {[]string{"worker"}, config.NeedDatabase | config.NeedS3 | config.NeedTemporal | config.NeedJWT},
		"codec":   {[]string{"codec-server"}, config.NeedPayloadKeys},
		"migrate": {[]string{"migrate", "--create-bucket"}, config.NeedDatabase | config.NeedS3},
	} {
		s := svc[name]
		var cmd []string
		if err := s.Command.Decode(&cmd); err != nil || !slices.Equal(cmd, c.command) {
			t.Errorf("service %s runs %v, want streambatch %v", name, cmd, c.command)
		}
		env := map[string]string{}
		for k, v := range s.Environment {
			if !known[k] {
				t.Errorf("service %s sets %s, which streambatch does not read", name, k)
			}
			env[k] = interpolate(v)
		}
		cfg, err := config.FromEnv(func(k string) string { return env[k] })
		if err == nil {
			err = cfg.Validate(c.need)
		}
		if err != nil {
			t.Errorf("service %s: its configuration is invalid: %v", name, err)
		}
	}
	for _, name := range []string{"api", "worker"} {
		deps := svc[name].DependsOn
		if deps["migrate"].Condition != "service_completed_successfully" || deps["temporal-namespace"].Condition != "service_completed_successfully" {
			t.Errorf("service %s must wait for migrate and temporal-namespace to complete: %+v", name, deps)
		}
	}
	if hc := svc["api"].Healthcheck.Test; !slices.Contains(hc, "healthcheck") {
		t.Errorf("the api's health check %v does not run streambatch healthcheck", hc)
	}
}

// script returns a one-shot job's shell script (its command's text).
func script(t *testing.T, n yaml.Node) string {
	t.Helper()
	var parts []string
	if err := n.Decode(&parts); err != nil {
		t.Fatalf("command: %v", err)
	}
	return strings.Join(parts, "\n")
}

var composeVar = regexp.MustCompile(`\$\{([A-Z0-9_]+)(:[?-])?([^}]*)\}`)

// interpolate resolves ${VAR:-default} to its default and ${VAR:?message}
// (a required secret) to a placeholder long enough for every check.
func interpolate(v string) string {
	return composeVar.ReplaceAllStringFunc(v, func(m string) string {
		p := composeVar.FindStringSubmatch(m)
		if p[2] == ":-" {
			return p[3]
		}
		if p[1] == config.EnvPayloadKeys {
			return "k1:cGxhY2Vob2xkZXItcGxhY2Vob2xkZXItcGxhY2Vob2w="
		}
		return fmt.Sprintf("placeholder-%s-0123456789abcdef0123456789abcdef", strings.ToLower(p[1]))
	})
}
