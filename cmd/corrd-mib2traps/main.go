// Command corrd-mib2traps writes a corrd SNMP trap definition table from
// the NOTIFICATION-TYPE and TRAP-TYPE definitions of MIB modules, as
// SNMPTT's snmpttconvertmib does for snmptt.conf.
//
//	corrd-mib2traps [-module NAME]... [MIBDIR...] > traps.yaml
//
// The bundled standard modules (SNMPv2-MIB, IF-MIB, UPS-MIB) are always
// loaded; MIBDIRs add to them.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/corrd/corrd/ingest/snmptrap"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("corrd-mib2traps", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var modules list
	fs.Var(&modules, "module", "only the notifications of this module (repeatable)")
	verbose := fs.Bool("v", false, "report the files that are not MIB modules")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: corrd-mib2traps [-module NAME]... [MIBDIR...] > traps.yaml\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	mib, warns, err := snmptrap.LoadMIB(fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "corrd-mib2traps:", err)
		return 1
	}
	if *verbose {
		for _, w := range warns {
			fmt.Fprintln(stderr, "corrd-mib2traps:", w)
		}
	}
	bw := bufio.NewWriter(stdout)
	if err := snmptrap.GenerateTrapTable(bw, mib, modules); err != nil {
		fmt.Fprintln(stderr, "corrd-mib2traps:", err)
		return 1
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintln(stderr, "corrd-mib2traps:", err)
		return 1
	}
	return 0
}
