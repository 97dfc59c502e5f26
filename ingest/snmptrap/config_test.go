package snmptrap

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := Config{Name: "switches", Communities: []Secret{"public"}}
	if err := ok.Validate("x"); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	bad := []Config{
		{Name: "switches", Users: []User{{Name: "alice"}, {Name: "bob", AuthProtocol: "SHA9", AuthPassphrase: "authpass123"}}},
		{Name: "switches", Communities: []Secret{"public"}, Address: "nope"},
		{Name: "switches", Communities: []Secret{"public"}, AllowSources: []string{"10.0.0.0/33"}},
		{Name: "switches", Users: []User{{Name: "a", AuthProtocol: "MD5", AuthPassphrase: "short"}}},
		{Name: "switches", Users: []User{{Name: "a", PrivProtocol: "AES", PrivPassphrase: "privpass123"}}},
		{Name: "switches", Users: []User{{Name: "a", AuthProtocol: "SHA", AuthPassphrase: "authpass123", PrivProtocol: "AES-512", PrivPassphrase: "privpass123"}}},
		{Name: "switches", Communities: []Secret{"public"}, EngineID: "0x80"},
		{Name: "switches", Communities: []Secret{"public"}, DeviceFrom: "dns"},
		{Name: "switches", Communities: []Secret{"public"}, Unknown: "keep"},
		{Name: "switches"},
		{Communities: []Secret{"public"}},
	}
	want := []string{
		`x.users[1].auth_protocol: unknown "SHA9"`,
		`x.address:`,
		`x.allow_sources[0]:`,
		`x.users[0].auth_passphrase: must be at least 8 characters`,
		`x.users[0].priv_protocol: privacy needs auth_protocol`,
		`x.users[0].priv_protocol: unknown "AES-512"`,
		`x.engine_id: 1 octets, want 5 to 32`,
		`x.device_from: unknown "dns"`,
		`x.unknown: unknown "keep"`,
		`x: neither communities nor users`,
		`x.name: must not be empty`,
	}
	for i, c := range bad {
		err := c.Validate("x")
		if err == nil || !strings.Contains(err.Error(), want[i]) {
			t.Errorf("case %d: got %v, want an error containing %q", i, err, want[i])
		}
	}
}

func TestValidateAll(t *testing.T) {
	err := ValidateAll("ingest.snmptrap", []Config{
		{Name: "a", Communities: []Secret{"public"}},
		{Name: "a", Users: []User{{Name: "u", AuthProtocol: "SHA9", AuthPassphrase: "authpass123"}}},
	})
	for _, want := range []string{
		`ingest.snmptrap[1] "a".name: duplicate listener name`,
		`ingest.snmptrap[1] "a".users[0].auth_protocol: unknown "SHA9"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	u := User{Name: "alice", AuthPassphrase: "authpass123"}
	if s := strings.Join([]string{u.AuthPassphrase.String()}, ""); strings.Contains(s, "authpass") {
		t.Errorf("secret printed: %s", s)
	}
}
