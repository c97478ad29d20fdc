package nginx

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMemberFileAndRender(t *testing.T) {
	for node, file := range map[string]string{
		"10.0.0.5":            MembersDir + "/10.0.0.5_80.conf",
		"10.0.0.5:8080":       MembersDir + "/10.0.0.5_8080.conf",
		"hipchat-2.internal":  MembersDir + "/hipchat-2.internal_80.conf",
		"[fd00::2]":           MembersDir + "/fd00__2_80.conf",
		"[fd00::2]:80":        MembersDir + "/fd00__2_80.conf",
		"Hipchat-2.Internal.": MembersDir + "/hipchat-2.internal_80.conf", // one file per node: see TestMemberFileOneSpellingPerNode
	} {
		if got := MemberFile(node); got != file {
			t.Errorf("MemberFile(%q) = %q, want %q", node, got, file)
		}
	}
	conf, err := RenderMember(Member{Node: "10.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(conf, "\nserver 10.0.0.5:80 max_fails=0;\n") || !strings.Contains(conf, "# drain_timeout 30\n") {
		t.Errorf("rendered:\n%s", conf)
	}
	m, ok := ParseMember(conf)
	if want := (Member{Node: "10.0.0.5:80", Drain: DefaultDrainTimeout}); !ok || !reflect.DeepEqual(m, want) {
		t.Errorf("ParseMember = %+v %v, want %+v", m, ok, want)
	}
	for _, bad := range []Member{
		{Node: "10.0.0.5; include /etc/passwd"},
		{Node: "10.0.0.5:0"},
		{Node: "10.0.0.5", Drain: 1500 * time.Millisecond},
		{Node: "10.0.0.5", Drain: 2 * time.Hour},
	} {
		if _, err := RenderMember(bad); err == nil {
			t.Errorf("RenderMember(%+v) accepted", bad)
		}
	}
}

func TestParseMemberState(t *testing.T) {
	cert, key := testPair(t)
	siteWith := func(nodes ...string) string {
		conf, err := Render(Site{ServerName: "chat.example.com", Nodes: nodes, CertificatePEM: cert, PrivateKeyPEM: key})
		if err != nil {
			t.Fatal(err)
		}
		return conf
	}
	m := Member{Node: "10.0.0.5", Drain: 45 * time.Second}
	conf, _ := RenderMember(m)
	out := func(file, site string) string {
		return strings.Join([]string{
			"@@hipchatdc-nginx-member@@ file", file,
			"@@hipchatdc-nginx-member@@ site", site,
			"@@hipchatdc-nginx-member@@ drain", "worker_shutdown_timeout 45s;", "",
			"@@hipchatdc-nginx-member@@ installed", "/usr/sbin/nginx", "",
			"@@hipchatdc-nginx-member@@ pid", "321", "",
			"@@hipchatdc-nginx-member@@ end", "",
		}, "\n")
	}
	cases := []struct {
		name, file, site string
		drift            []string // substrings, one per entry
		inSite           bool
	}{
		{"member", "present\n" + conf, siteWith(), nil, false},
		{"file removed by hand", "", siteWith(), []string{"is missing"}, false},
		{"file edited", "present\n" + strings.Replace(conf, "max_fails=0", "down", 1), siteWith(), []string{"changed outside Terraform"}, false},
		{"site of an earlier version", "present\n" + conf, strings.Replace(siteWith("10.0.0.9"), MembersInclude, "", 1), []string{"does not include"}, false},
		{"also in the proxy's nodes", "present\n" + conf, siteWith("10.0.0.5"), nil, true},
		{"no site", "", "", []string{"is missing", "no site"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := ParseMemberState(out(c.file, c.site), m.Node)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Running || st.MasterPID != 321 || !st.Installed || st.DrainTimeout != 45*time.Second || st.InSiteNodes != c.inSite {
				t.Errorf("state %+v", st)
			}
			d := st.Drift(m)
			if len(d) != len(c.drift) {
				t.Fatalf("drift %q, want %d entries like %q", d, len(c.drift), c.drift)
			}
			for i := range d {
				if !strings.Contains(d[i], c.drift[i]) {
					t.Errorf("drift[%d] = %q, want %q in it", i, d[i], c.drift[i])
				}
			}
			if st.Present && st.Member.Drain != 45*time.Second {
				t.Errorf("drain read back %v", st.Member.Drain)
			}
		})
	}
}

// One node, however it is spelled, has one membership file: two files would put it twice in
// the upstream, and removing one would not take it out of service.
func TestMemberFileOneSpellingPerNode(t *testing.T) {
	for _, c := range [][]string{
		{"node-a.example.com", "Node-A.Example.COM", "node-a.example.com.", "NODE-A.example.com.:80"},
		{"fd00::2", "[FD00::0002]:80", "[fd00:0::2]"},
		{"10.0.0.5:8080", "10.0.0.5:8080"},
	} {
		want := MemberFile(c[0])
		for _, n := range c[1:] {
			if got := MemberFile(n); got != want {
				t.Errorf("MemberFile(%q) = %s, want %s (as for %q)", n, got, want, c[0])
			}
		}
	}
}

// A worker_shutdown_timeout that NGINX does not load, or loads lower than the membership's
// drain_timeout, is drift: any reload would cut the node's requests off before the drain ends.
func TestParseMemberStateDrainDrift(t *testing.T) {
	cert, key := testPair(t)
	site, err := Render(Site{ServerName: "chat.example.com", CertificatePEM: cert, PrivateKeyPEM: key})
	if err != nil {
		t.Fatal(err)
	}
	m := Member{Node: "10.0.0.5", Drain: 45 * time.Second}
	conf, _ := RenderMember(m)
	for drain, want := range map[string]string{
		"":                                 "worker_shutdown_timeout (" + DrainFile + ") is not set, lower than drain_timeout 45",
		"    worker_shutdown_timeout 30s;": "is 30 s, lower than drain_timeout 45",
		"worker_shutdown_timeout 45s;":     "",
		"worker_shutdown_timeout 600s;":    "",
	} {
		out := strings.Join([]string{
			"@@hipchatdc-nginx-member@@ file", "present\n" + conf,
			"@@hipchatdc-nginx-member@@ site", site,
			"@@hipchatdc-nginx-member@@ drain", drain, "",
			"@@hipchatdc-nginx-member@@ installed", "/usr/sbin/nginx", "",
			"@@hipchatdc-nginx-member@@ pid", "321", "",
			"@@hipchatdc-nginx-member@@ end", "",
		}, "\n")
		st, err := ParseMemberState(out, m.Node)
		if err != nil {
			t.Fatal(err)
		}
		d := strings.Join(st.Drift(m), "; ")
		if (want == "") != (d == "") || !strings.Contains(d, want) {
			t.Errorf("drain section %q: drift %q, want %q", drain, d, want)
		}
	}
}
