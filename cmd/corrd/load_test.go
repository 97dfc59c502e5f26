package main

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/corrd/corrd/examples"
	"github.com/corrd/corrd/rules"
)

func TestEmbeddedDefaultConfig(t *testing.T) {
	src := sourceFor("")
	cfg, set, err := load(src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	if set == nil {
		t.Fatal("no rule set")
	}
	if got, want := cfg.Web.ListenAddress, "127.0.0.1:9480"; got != want {
		t.Errorf("listen address %q, want loopback %q", got, want)
	}
	if got, want := src.ruleFiles(cfg.RuleFiles), []string{"retail/rules.yml", "retail/services.yml", "retail/knowledge.yml", "datacenter/rules.yml"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rule files %q, want %q", got, want)
	}
}

// TestExamples loads and validates every file of examples/: each *.yml is
// either a top-level configuration or a rules file, and each is embedded.
func TestExamples(t *testing.T) {
	root := filepath.Join("..", "..", "examples")
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".yml" {
			return err
		}
		n++
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		t.Run(rel, func(t *testing.T) {
			if _, err := fs.Stat(examples.FS, rel); err != nil {
				t.Errorf("not embedded: %v", err)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			switch kindOf(t, rel, data) {
			case "rules":
				if _, err := rules.Load([]string{p}, rules.DefaultMatrix()); err != nil {
					t.Error(err)
				}
			case "corrd":
				if _, _, err := load(source{file: p}); err != nil {
					t.Error(err)
				}
				if _, _, err := load(source{fsys: examples.FS, file: rel}); err != nil {
					t.Error(err)
				}
			case "alertmanager":
				checkAlertmanagerExample(t, data)
			default:
				t.Error("neither a corrd configuration (corrd*.yml), a rules file nor an Alertmanager configuration")
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no *.yml under %s", root)
	}
}

// kindOf tells the kind of an example file: a corrd configuration
// (corrd*.yml), a rules file (top-level rules, default, or the service
// catalogue: services, calendars, sla, major) or an
// Alertmanager configuration that points at corrd (route and receivers).
func kindOf(t *testing.T, rel string, data []byte) string {
	if strings.HasPrefix(path.Base(rel), "corrd") {
		return "corrd"
	}
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	has := func(k string) bool { _, ok := top[k]; return ok }
	switch {
	case has("rules") || has("default") || has("services") || has("calendars") || has("sla") || has("major") ||
		has("known_errors") || has("maintenance") || has("problems") || has("changes"):
		return "rules"
	case has("route") && has("receivers"):
		return "alertmanager"
	}
	return ""
}

// checkAlertmanagerExample checks that the webhooks of an Alertmanager
// configuration point at corrd's default receiver address.
func checkAlertmanagerExample(t *testing.T, data []byte) {
	var am struct {
		Receivers []struct {
			WebhookConfigs []struct {
				URL string `yaml:"url"`
			} `yaml:"webhook_configs"`
		} `yaml:"receivers"`
	}
	if err := yaml.Unmarshal(data, &am); err != nil {
		t.Fatal(err)
	}
	want := "http://" + defaultListenAddress + "/api/v1/ingest/alertmanager"
	n := 0
	for _, r := range am.Receivers {
		for _, w := range r.WebhookConfigs {
			n++
			if w.URL != want {
				t.Errorf("webhook url %q, want %q", w.URL, want)
			}
		}
	}
	if n == 0 {
		t.Error("no webhook_configs")
	}
}

func TestLoadResolvesRuleFilesAgainstConfigDir(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"etc/corrd.yml":       "rule_files: ['rules/*.yml', 'extra.yml']\n",
		"etc/rules/a.yml":     validRules,
		"etc/rules/b.yml":     "rules: []\n",
		"etc/extra.yml":       "rules: []\n",
		"elsewhere/empty.txt": "",
	})
	t.Chdir(filepath.Join(dir, "elsewhere"))
	if _, _, err := load(source{file: filepath.Join("..", "etc", "corrd.yml")}); err != nil {
		t.Fatal(err)
	}
	// An absolute rule file path is kept as is.
	abs := filepath.Join(dir, "etc", "extra.yml")
	got := source{file: "etc/corrd.yml"}.ruleFiles([]string{abs, "r.yml", ""})
	if want := []string{abs, filepath.Join("etc", "r.yml")}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ruleFiles: %q, want %q", got, want)
	}
}

func TestLoadReportsConfigAndRuleErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"corrd.yml": "web: {read_timeout: 0s}\nrule_files: [rules.yml]\n",
		"rules.yml": brokenRules,
	})
	cfgFile := filepath.Join(dir, "corrd.yml")
	_, set, err := load(source{file: cfgFile})
	if err == nil || set != nil {
		t.Fatalf("load: set %v, err %v; want an error", set, err)
	}
	errs := flattenErrors(err)
	if got, want := errs[0].Error(), cfgFile+": web.read_timeout: must be > 0"; got != want {
		t.Errorf("first error %q, want %q", got, want)
	}
	msg := err.Error()
	for _, want := range []string{filepath.Join(dir, "rules.yml"), `rules[1] "store-power"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors do not mention %q:\n%s", want, msg)
		}
	}
}

func TestLoadMissingRuleFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{"corrd.yml": "rule_files: [missing.yml]\n"})
	_, _, err := load(source{file: filepath.Join(dir, "corrd.yml")})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing.yml")) {
		t.Errorf("got %v, want an error naming missing.yml", err)
	}
}

// Trap tables and MIB directories named relative to the configuration file
// are found beside it, wherever corrd runs.
func TestListenerPathsRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "corrd.yml")
	if err := os.WriteFile(cfgPath, []byte(`
ingest:
  snmptrap:
    - name: switches
      address: 127.0.0.1:0
      communities: [public]
      trap_files: [traps/switch.yaml, /abs/ups.yaml]
      mib_dirs: [mibs]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(source{file: cfgPath})
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Ingest.SNMPTrap[0]
	if got, want := l.TrapFiles, []string{filepath.Join(dir, "traps/switch.yaml"), "/abs/ups.yaml"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("trap_files %v, want %v", got, want)
	}
	if got, want := l.MIBDirs, []string{filepath.Join(dir, "mibs")}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("mib_dirs %v, want %v", got, want)
	}
}
