package main

import (
	"os"
	"path/filepath"
	"testing"
)

// writeFiles writes files (path relative to a new temporary directory:
// content) and returns the directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const validRules = `rules:
  - name: store-power
    match: ['alertname="RegisterDown"']
    group_by: [store]
`

// brokenRules has two problems in one file.
const brokenRules = `rules:
  - name: store-power
    match: ['alertname="RegisterDown"']
    threshold: {count: -1}
  - name: store-power
`
