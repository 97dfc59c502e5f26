// Package examples holds corrd's example configuration and rule files. They
// are embedded in the binary: corrd started without --config.file runs on
// DefaultConfig, reading its rule files from FS.
package examples

import "embed"

// FS holds the top-level *.yml files and every subdirectory of examples.
//
//go:embed *.yml */*
var FS embed.FS

// DefaultConfig is the path in FS of the configuration corrd runs on when
// no --config.file is given.
const DefaultConfig = "corrd.yml"
