package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/corrd/corrd/examples"
	"github.com/corrd/corrd/rules"
)

// source is where a configuration file and the rule files it names are
// read from: the OS file system, or an fs.FS such as the embedded examples.
type source struct {
	// fsys is nil for the OS file system.
	fsys fs.FS
	// file is the configuration file: an OS path, or a path in fsys.
	file string
}

// sourceFor returns the source of a --config.file value; "" means the
// embedded default configuration.
func sourceFor(file string) source {
	if file == "" {
		return source{fsys: examples.FS, file: examples.DefaultConfig}
	}
	return source{file: file}
}

// String names the configuration file in messages.
func (s source) String() string {
	if s.fsys != nil {
		return "embedded:" + s.file
	}
	return s.file
}

func (s source) readFile(name string) ([]byte, error) {
	if s.fsys != nil {
		return fs.ReadFile(s.fsys, name)
	}
	return os.ReadFile(name)
}

// ruleFiles resolves the rule_files globs against the configuration
// file's directory. Globbing is left to the rules loader, which reports bad
// patterns and patterns that match no file.
func (s source) ruleFiles(patterns []string) []string {
	out := make([]string, 0, len(patterns))
	for _, p := range patterns {
		switch {
		case p == "": // reported by Validate
		case s.fsys != nil:
			out = append(out, path.Join(path.Dir(s.file), p))
		case filepath.IsAbs(p):
			out = append(out, p)
		default:
			out = append(out, filepath.Join(filepath.Dir(s.file), p))
		}
	}
	return out
}

// loadConfig reads, parses and validates the configuration file. Errors
// are prefixed with the file name, one per problem.
func loadConfig(src source) (*Config, error) {
	data, err := src.readFile(src.file)
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfig(data)
	if cfg == nil {
		return nil, prefixErrors(src.String(), err)
	}
	if src.fsys == nil {
		resolveListenerPaths(cfg, filepath.Dir(src.file))
	}
	// Unknown fields, then the rest of the file's problems.
	return cfg, prefixErrors(src.String(), errors.Join(err, cfg.Validate()))
}

// resolveListenerPaths makes the relative file names in listener settings
// relative to the configuration file's directory, as rule_files are.
func resolveListenerPaths(cfg *Config, dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	for i := range cfg.Ingest.SNMPTrap {
		l := &cfg.Ingest.SNMPTrap[i]
		for j := range l.MIBDirs {
			l.MIBDirs[j] = abs(l.MIBDirs[j])
		}
		for j := range l.TrapFiles {
			l.TrapFiles[j] = abs(l.TrapFiles[j])
		}
	}
}

// load is the load path shared by the daemon, its reloads and check-config:
// the configuration file, then the rule files compiled with its priority
// matrix. It returns every problem found: the rules are checked even when
// other parts of the configuration are invalid, as long as the matrix they
// are compiled with is valid.
func load(src source) (*Config, *rules.Set, error) {
	cfg, cfgErr := loadConfig(src)
	if cfg == nil || (cfgErr != nil && cfg.Priority.Validate("priority") != nil) {
		return nil, nil, cfgErr
	}
	set, err := loadRules(src, src.ruleFiles(cfg.RuleFiles), *cfg.Priority)
	if err := errors.Join(cfgErr, err); err != nil {
		return nil, nil, err
	}
	return cfg, set, nil
}

// prefixErrors prefixes every error of a (possibly joined) error with
// prefix, keeping one error per problem.
func prefixErrors(prefix string, err error) error {
	if err == nil {
		return nil
	}
	leaves := flattenErrors(err)
	for i, e := range leaves {
		leaves[i] = fmt.Errorf("%s: %w", prefix, e)
	}
	return errors.Join(leaves...)
}

// flattenErrors lists the leaves of a tree of joined errors.
func flattenErrors(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flattenErrors(e)...)
	}
	return out
}
