package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	code = cli(t.Context(), nil, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCheckConfigEmbeddedDefault(t *testing.T) {
	code, stdout, stderr := runCLI(t, "check-config")
	if code != 0 || !strings.Contains(stdout, "SUCCESS: embedded:corrd.yml") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

func TestCheckConfigValidFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"corrd.yml":       "rule_files: ['rules/*.yml']\n",
		"rules/store.yml": validRules,
	})
	file := filepath.Join(dir, "corrd.yml")
	code, stdout, stderr := runCLI(t, "check-config", file)
	if code != 0 || !strings.Contains(stdout, "SUCCESS: "+file) {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

func TestCheckConfigBrokenFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"corrd.yml": "web:\n  read_timeout: 0s\ncorrelator:\n  shards: -1\nrule_files: [rules.yml]\n",
		"rules.yml": brokenRules,
	})
	file := filepath.Join(dir, "corrd.yml")
	code, stdout, stderr := runCLI(t, "check-config", file)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	want := []string{
		file + ": web.read_timeout: must be > 0",
		file + ": correlator.shards: must be >= 0",
	}
	if len(lines) < len(want)+3 {
		t.Fatalf("stderr has %d lines, want the 2 config errors, 2 rule errors and FAILED:\n%s", len(lines), stderr)
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d: %q, want %q", i, lines[i], w)
		}
	}
	rulesFile := filepath.Join(dir, "rules.yml")
	for _, l := range lines[len(want) : len(lines)-1] {
		if !strings.HasPrefix(l, rulesFile+": rules[") {
			t.Errorf("rule error %q does not name its file and rule", l)
		}
	}
	if got := lines[len(lines)-1]; got != "FAILED: "+file {
		t.Errorf("last line %q", got)
	}
}

func TestCheckConfigUnknownField(t *testing.T) {
	dir := writeFiles(t, map[string]string{"corrd.yml": "web:\n  listen: 1.2.3.4:5\n"})
	file := filepath.Join(dir, "corrd.yml")
	code, _, stderr := runCLI(t, "check-config", file)
	if want := file + ": web.listen: unknown field (line 2)\n"; code != 1 || !strings.HasPrefix(stderr, want) {
		t.Errorf("exit %d, stderr %q, want 1 and %q", code, stderr, want)
	}
}

func TestCheckConfigMissingFile(t *testing.T) {
	code, _, stderr := runCLI(t, "check-config", filepath.Join(t.TempDir(), "nope.yml"))
	if code != 1 || !strings.Contains(stderr, "nope.yml") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestCLIUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad log level", []string{"--log.level=verbose"}, 2, `unknown log level "verbose"`},
		{"bad log format", []string{"--log.format=xml"}, 2, `unknown log format "xml"`},
		{"unknown flag", []string{"--config.fil=x"}, 2, "flag provided but not defined"},
		{"stray argument", []string{"run"}, 2, `unexpected argument "run"`},
		{"check-config two files", []string{"check-config", "a", "b"}, 2, "Usage: corrd check-config"},
		{"version argument", []string{"version", "x"}, 2, "Usage: corrd version"},
		{"help", []string{"--help"}, 0, "check-config [FILE]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "corrd, version ") || !strings.Contains(stdout, "go version: go") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

func TestDaemonBadConfigExits1(t *testing.T) {
	dir := writeFiles(t, map[string]string{"corrd.yml": "bogus: 1\n"})
	code, _, stderr := runCLI(t, "--config.file="+filepath.Join(dir, "corrd.yml"), "--storage.path="+filepath.Join(dir, "data"))
	if code != 1 || !strings.Contains(stderr, "bogus: unknown field") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestCheckConfigUnknownFieldsWithTheRest: unknown fields, in the
// configuration and in a rules file, are reported with their paths next to
// every other problem, in one run.
func TestCheckConfigUnknownFieldsWithTheRest(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"corrd.yml": "web:\n  read_timeout: 0s\n  bogus: 1\nrule_files: [rules.yml]\n",
		"rules.yml": `rules:
  - name: store-power
    group_by: [store]
    urgency: asap
  - name: pos
    window: 1m
    group_by: [store, store]
    bogus: 1
`,
	})
	file, rulesFile := filepath.Join(dir, "corrd.yml"), filepath.Join(dir, "rules.yml")
	code, _, stderr := runCLI(t, "check-config", file)
	want := []string{
		file + ": web.bogus: unknown field (line 3)",
		file + ": web.read_timeout: must be > 0",
		rulesFile + `: rules[1] "pos": bogus: unknown field (line 8)`,
		rulesFile + `: rules[0] "store-power": urgency: "asap" is not an urgency of the priority matrix (low, normal, high, urgent)`,
		rulesFile + `: rules[1] "pos": group_by[1]: "store" listed twice`,
		"FAILED: " + file,
	}
	if got := strings.TrimSuffix(stderr, "\n"); code != 1 || got != strings.Join(want, "\n") {
		t.Errorf("exit %d, stderr:\n%s\nwant 1 and:\n%s", code, got, strings.Join(want, "\n"))
	}
}
