package restore

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRolesAwk: pg_dumpall's CREATE ROLE lines become creates-when-missing (quoted names
// too); every other line passes unchanged.
func TestRolesAwk(t *testing.T) {
	in := "SET default_transaction_read_only = off;\nCREATE ROLE hipchat_user;\nALTER ROLE hipchat_user WITH NOSUPERUSER LOGIN PASSWORD 'SCRAM-SHA-256$4096:x';\nCREATE ROLE \"odd-name\";\n"
	cmd := exec.Command("awk", rolesAwk)
	cmd.Stdin = strings.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "SET default_transaction_read_only = off;\n" +
		"SELECT $hcdc$CREATE ROLE hipchat_user$hcdc$ WHERE NOT EXISTS (SELECT FROM pg_roles WHERE quote_ident(rolname) = $hcdc$hipchat_user$hcdc$)\\gexec\n" +
		"ALTER ROLE hipchat_user WITH NOSUPERUSER LOGIN PASSWORD 'SCRAM-SHA-256$4096:x';\n" +
		"SELECT $hcdc$CREATE ROLE \"odd-name\"$hcdc$ WHERE NOT EXISTS (SELECT FROM pg_roles WHERE quote_ident(rolname) = $hcdc$\"odd-name\"$hcdc$)\\gexec\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}
