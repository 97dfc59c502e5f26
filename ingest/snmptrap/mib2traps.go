package snmptrap

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Pairs of name parts that make a raise and its clear (linkDown/linkUp,
// upsTrapAlarmEntryAdded/...Removed, fooFailed/fooRestored...).
var clearPairs = [][2]string{
	{"Down", "Up"}, {"Added", "Removed"}, {"Fail", "Restore"}, {"Failed", "Restored"},
	{"Failure", "Recovery"}, {"Lost", "Restored"}, {"Lost", "Regained"}, {"Raise", "Clear"},
	{"Alarm", "Clear"}, {"Set", "Cleared"}, {"Start", "Stop"}, {"On", "Off"},
	{"Bad", "Good"}, {"Fault", "Ok"}, {"Inserted", "Removed"}, {"Disconnected", "Connected"},
}

var (
	sevCritical = regexp.MustCompile(`(?i)(critical|fatal|depleted|shutdown|emergency|overheat|onbattery)`)
	sevMajor    = regexp.MustCompile(`(?i)(down|fail|fault|error|lost|alarm|bad|low|disconnect|removed|offline|degraded)`)
	sevWarning  = regexp.MustCompile(`(?i)(warn|threshold|high|exceed|authenticationfailure)`)
)

// GenerateTrapTable writes a trap table for the notifications of mib
// (only those of the named modules when modules is not empty): one
// definition per NOTIFICATION-TYPE or TRAP-TYPE, with a severity guessed
// from its name, raise/clear pairs joined under one alert (linkDown and
// linkUp both become alert linkDown), and a fingerprint of the device and
// the notification's index-like objects. The table is a starting point to
// review, as SNMPTT's snmpttconvertmib output is.
func GenerateTrapTable(w io.Writer, mib *MIB, modules []string) error {
	want := map[string]bool{}
	for _, m := range modules {
		want[m] = true
	}
	byName := map[string]*Object{}
	var notes []*Object
	for _, n := range mib.Notifications {
		if len(want) > 0 && !want[n.Module] {
			continue
		}
		notes = append(notes, n)
		byName[n.Module+"::"+n.Name] = n
	}
	// raiseOf maps a clearing notification to the one it clears.
	raiseOf := map[*Object]*Object{}
	for _, n := range notes {
		for _, p := range clearPairs {
			if i := strings.LastIndex(n.Name, p[0]); i > 0 {
				c := byName[n.Module+"::"+n.Name[:i]+p[1]+n.Name[i+len(p[0]):]]
				if c != nil && c != n && raiseOf[c] == nil {
					raiseOf[c] = n
				}
			}
		}
	}
	fmt.Fprintf(w, "# Trap definitions generated from MIB notifications by corrd-mib2traps.\n")
	fmt.Fprintf(w, "# Review the severities, categories and fingerprints before use.\n")
	fmt.Fprintf(w, "traps:\n")
	module := ""
	for _, n := range notes {
		if n.Module != module {
			module = n.Module
			fmt.Fprintf(w, "\n  # %s\n", module)
		}
		raise := n
		action := "raise"
		sev := guessSeverity(n.Name)
		if r := raiseOf[n]; r != nil {
			raise, action = r, "clear"
			sev = guessSeverity(r.Name)
		}
		if d := firstSentence(n.Description); d != "" {
			fmt.Fprintf(w, "  # %s\n", d)
		}
		fmt.Fprintf(w, "  - name: %s\n", n.Name)
		fmt.Fprintf(w, "    oid: %s\n", n.OID)
		fmt.Fprintf(w, "    severity: %s\n", sev)
		fmt.Fprintf(w, "    category: %s\n", category(n.Module))
		fmt.Fprintf(w, "    alert: %s\n", raise.Name)
		fmt.Fprintf(w, "    action: %s\n", action)
		fp := []string{"device"}
		for _, o := range raise.Objects {
			if isIndexName(o) {
				fp = append(fp, sanitizeLabel(o))
			}
		}
		fmt.Fprintf(w, "    fingerprint: [%s]\n", strings.Join(fp, ", "))
	}
	return nil
}

func guessSeverity(name string) string {
	switch {
	case sevCritical.MatchString(name):
		return "critical"
	case sevMajor.MatchString(name):
		return "major"
	case sevWarning.MatchString(name):
		return "warning"
	}
	return "info"
}

func isIndexName(s string) bool {
	for _, suf := range []string{"Index", "Id", "ID", "Idx", "Number"} {
		if strings.HasSuffix(s, suf) {
			return true
		}
	}
	return false
}

// category derives a category from a module name: IF-MIB -> if.
func category(module string) string {
	s := strings.TrimSuffix(strings.TrimSuffix(module, "-MIB"), "-TRAP")
	return strings.ToLower(strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return '-'
	}, s))
}

func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i > 0 {
		s = s[:i+1]
	}
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return strconv.Quote(s)[1 : len(strconv.Quote(s))-1]
}
