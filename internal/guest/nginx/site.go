package nginx

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Files of the deployed site. conf.d/*.conf is included inside Debian's http block, which the
// maps need; the certificate and key live in a folder of their own.
const (
	ConfFile    = "/etc/nginx/conf.d/hipchatdc.conf"
	TLSDir      = "/etc/nginx/hipchatdc"
	CertFile    = TLSDir + "/fullchain.pem"
	KeyFile     = TLSDir + "/privkey.pem" // mode 0600 root: only the master process reads it
	DefaultSite = "/etc/nginx/sites-enabled/default"
	PIDFile     = "/run/nginx.pid"

	stagingDir  = TLSDir + "/.staged"   // new files wait here until they are moved into place
	previousDir = TLSDir + "/.previous" // the files they replaced, until nginx -t accepts the new ones
)

// Defaults for the site's knobs.
const (
	// DefaultClientMaxBodySize bounds an upload. NGINX's own default (1m) would refuse most
	// shared files with 413 before Hipchat sees them; 100m is above the size Hipchat accepts
	// for an attachment, so Hipchat, not the proxy, decides and explains, while a runaway
	// upload is still cut off at the edge.
	DefaultClientMaxBodySize = "100m"
	// DefaultReadTimeout is how long the proxy waits for the node to send something. Chat
	// clients long-poll (BOSH holds a request open until there is a message or its wait
	// expires) and keep WebSockets open between pings; NGINX's default of 60 s would cut
	// both off in a quiet room. 300 s leaves room for any client's poll interval.
	DefaultReadTimeout = 300 * time.Second
	// DefaultPort is where the nodes serve HTTP: the guide forwards 443 to 80.
	DefaultPort = 80
	// ConnectTimeout bounds NGINX's wait for a node to accept a connection. The nodes are on
	// the proxy's own network, where a connection takes milliseconds: a node that has not
	// answered in 5 s is gone, and the request moves on to another one.
	ConnectTimeout = 5 * time.Second
)

// Affinity is how requests of one session are kept on one node when there are several.
type Affinity string

const (
	// AffinityCookie (the default) gives each new client a random key in the cookie
	// hipchatdc_route, set by NGINX on its first response, and picks the node by a consistent
	// hash of that key. This is what NGINX Plus' "sticky cookie" does, built from open-source
	// directives: the first request already hashes the key the cookie will carry, so a
	// session never moves after login; clients behind one NAT still spread over the nodes;
	// adding or losing a node moves only that node's share of sessions.
	AffinityCookie Affinity = "cookie"
	// AffinityClientAddress hashes the client's full address (not ip_hash's first three
	// octets, which would put a whole /24 on one node). For clients that do not keep cookies.
	AffinityClientAddress Affinity = "client_address"
)

// RouteCookie is the cookie that carries a client's affinity key.
const RouteCookie = "hipchatdc_route"

// Site is the reverse proxy's configuration.
type Site struct {
	ServerName string   // the public hostname clients use
	Nodes      []string // node addresses: IP, host name, optionally ":port" (80 when absent)

	CertificatePEM string // the leaf, then intermediates
	PrivateKeyPEM  string // secret: written with mode 0600, never logged, never read back

	ClientMaxBodySize string        // NGINX size, e.g. "100m"; DefaultClientMaxBodySize when empty
	ReadTimeout       time.Duration // whole seconds; DefaultReadTimeout when zero
	Affinity          Affinity      // AffinityCookie when empty; matters with several nodes
}

var (
	hostnamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)
	sizePattern     = regexp.MustCompile(`^[0-9]{1,9}[kKmMgG]?$`)
)

// WithDefaults returns s with every empty knob set to its default, every node written as
// host:port and the certificate ending in one newline: the forms Read returns.
func (s Site) WithDefaults() Site {
	if s.ClientMaxBodySize == "" {
		s.ClientMaxBodySize = DefaultClientMaxBodySize
	}
	if s.ReadTimeout == 0 {
		s.ReadTimeout = DefaultReadTimeout
	}
	if s.Affinity == "" {
		s.Affinity = AffinityCookie
	}
	if s.CertificatePEM != "" {
		// As Read returns it: a file ends with exactly one newline.
		s.CertificatePEM = strings.TrimRight(s.CertificatePEM, "\r\n\t ") + "\n"
	}
	var nodes []string // nil for none, as ParseSite returns it
	for _, n := range s.Nodes {
		if hp, err := NormalizeNode(n); err == nil {
			n = hp
		}
		nodes = append(nodes, n)
	}
	s.Nodes = nodes
	return s
}

// NormalizeNode writes a node address as host:port, adding DefaultPort when it has none.
func NormalizeNode(n string) (string, error) {
	host, port := n, strconv.Itoa(DefaultPort)
	if h, p, err := net.SplitHostPort(n); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(n, "[") && strings.HasSuffix(n, "]") {
		host = n[1 : len(n)-1]
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return "", fmt.Errorf("node %q: an address with a zone cannot be proxied to", n)
		}
		host = a.String() // one spelling per address ("FD00::0002" is "fd00::2")
	} else if !hostnamePattern.MatchString(host) || len(host) > 253 {
		return "", fmt.Errorf("node %q is not an IP address or host name (optionally with :port)", n)
	} else {
		// DNS names are case-insensitive and "node.example.com." is "node.example.com": one
		// spelling, so that one node never gets two membership files (two servers in the upstream).
		host = strings.ToLower(strings.TrimSuffix(host, "."))
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("node %q: port %q is not 1-65535", n, port)
	}
	return net.JoinHostPort(host, port), nil
}

// Validate checks that s can be rendered: every value ends up in an NGINX configuration, so
// only well-formed ones pass (no ';', '{', quotes or newlines can reach the file).
func (s Site) Validate() error {
	var errs []error
	if !hostnamePattern.MatchString(s.ServerName) || len(s.ServerName) > 253 {
		errs = append(errs, fmt.Errorf("public hostname %q is not a DNS name", s.ServerName))
	}
	seen := map[string]bool{}
	for _, n := range s.Nodes {
		hp, err := NormalizeNode(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[hp] {
			errs = append(errs, fmt.Errorf("node %s is listed twice", hp))
		}
		seen[hp] = true
	}
	if s.ClientMaxBodySize != "" && !sizePattern.MatchString(s.ClientMaxBodySize) {
		errs = append(errs, fmt.Errorf("client_max_body_size %q is not an NGINX size (a number with an optional k, m or g)", s.ClientMaxBodySize))
	}
	if s.ReadTimeout < 0 || s.ReadTimeout%time.Second != 0 {
		errs = append(errs, fmt.Errorf("read timeout %s is not a positive whole number of seconds", s.ReadTimeout))
	}
	switch s.Affinity {
	case "", AffinityCookie, AffinityClientAddress:
	default:
		errs = append(errs, fmt.Errorf("affinity %q is not %q or %q", s.Affinity, AffinityCookie, AffinityClientAddress))
	}
	if s.CertificatePEM == "" || s.PrivateKeyPEM == "" {
		errs = append(errs, errors.New("certificate and private key are both required"))
	} else if _, err := tls.X509KeyPair([]byte(s.CertificatePEM), []byte(s.PrivateKeyPEM)); err != nil {
		// NGINX would refuse the pair at nginx -t; saying so here names the inputs.
		errs = append(errs, fmt.Errorf("certificate and private key: %w", err))
	}
	return errors.Join(errs...)
}

// Mozilla's "intermediate" configuration (TLS 1.2 and 1.3, forward-secret AEAD suites only),
// without its DHE suites: they need a dhparam file and every client that can do TLS 1.2 with
// them can do ECDHE. TLS 1.3 suites are not configurable in NGINX 1.22 and are all fine.
const sslCiphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" +
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" +
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

var siteTemplate = template.Must(template.New("site").Parse(`# Managed by terraform-provider-hipchatdc (hipchatdc_reverse_proxy): local changes are overwritten.
# Hipchat Data Center reverse proxy: TLS ends here; requests go on to the node(s) on port 80.

# Keep-alive to the nodes needs an empty Connection header; a WebSocket needs "upgrade".
map $http_upgrade $hipchatdc_connection_upgrade {
	default upgrade;
	''      '';
}
{{- if .Sticky}}

# Session affinity: a client without the cookie gets a random key ($request_id), which picks
# its node now and, through the cookie set on this response, on every later request.
map $cookie_{{.Cookie}} $hipchatdc_affinity {
	''      $request_id;
	default $cookie_{{.Cookie}};
}
map $cookie_{{.Cookie}} $hipchatdc_affinity_cookie {
	''      "{{.Cookie}}=$request_id; Path=/; Secure; HttpOnly; SameSite=Lax";
	default '';
}
{{- end}}

upstream hipchatdc_nodes {
{{- if .Hash}}
	hash {{.Hash}} consistent;
{{- end}}
{{- range .Site.Nodes}}
	server {{.}};
{{- end}}
{{- if not .Site.Nodes}}
	# No node in hipchatdc_reverse_proxy's nodes: NGINX needs a server here to accept the
	# block. While no membership below is listed, this file holds one that is down (clients
	# get 502); it is gone while one is, so that a single node is the upstream's only server,
	# which NGINX retries on a new connection when it closes a kept-alive one.
	include {{.PlaceholderGlob}};
{{- end}}
	# Nodes added by hipchatdc_reverse_proxy_node, one file each.
	include {{.MembersGlob}};
	# Idle connections kept open to the nodes, per worker: requests reuse them instead of
	# opening a TCP connection each. The nodes' keepalive_timeout must exceed NGINX's 60 s.
	keepalive 32;
}

server {
	listen 80 default_server;
	server_name {{.Site.ServerName}};
	server_tokens off;
	return 301 https://$host$request_uri;
}

server {
	listen 443 ssl default_server;
	server_name {{.Site.ServerName}};
	server_tokens off;

	ssl_certificate     {{.CertFile}};
	ssl_certificate_key {{.KeyFile}};
	ssl_protocols TLSv1.2 TLSv1.3;
	ssl_ciphers {{.Ciphers}};
	ssl_prefer_server_ciphers off;
	ssl_session_cache shared:hipchatdc_tls:10m;
	ssl_session_timeout 1d;
	ssl_session_tickets off;

	add_header Strict-Transport-Security "max-age=63072000" always;
{{- if .Sticky}}
	add_header Set-Cookie $hipchatdc_affinity_cookie;
{{- end}}

	# File sharing: uploads up to this size reach Hipchat.
	client_max_body_size {{.Site.ClientMaxBodySize}};

	location / {
		proxy_pass http://hipchatdc_nodes;
		proxy_http_version 1.1;
		proxy_set_header Host $host;
		proxy_set_header Upgrade $http_upgrade;
		proxy_set_header Connection $hipchatdc_connection_upgrade;
		proxy_set_header X-Real-IP $remote_addr;
		proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
		proxy_set_header X-Forwarded-Proto $scheme;
		proxy_set_header X-Forwarded-Host $host;
		# Long-polling and quiet WebSockets must outlive NGINX's 60 s default.
		proxy_read_timeout {{.ReadTimeout}}s;
		proxy_send_timeout {{.ReadTimeout}}s;
		# A node that is gone (removed, powered off, its address silent) costs a request at most
		# this long before NGINX tries the next one, not NGINX's default of 60 s.
		proxy_connect_timeout {{.ConnectTimeout}}s;
		# A request whose node is gone, unreachable or answering 502/503 (a node shutting down)
		# goes to another live node, also when its route cookie hashed to that one. What NGINX
		# cannot retry: a POST, PATCH or LOCK once it went to the node (not idempotent), any
		# request after part of the answer went to the client, and an upgraded WebSocket the
		# node drops (the client reconnects, to a live node).
		proxy_next_upstream error timeout http_502 http_503;
	}
}
`))

// Render returns the NGINX configuration of s (defaults applied). s must be valid.
func Render(s Site) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	s = s.WithDefaults()
	data := struct {
		Site                       Site
		Sticky                     bool
		Hash, Cookie               string
		CertFile, KeyFile, Ciphers string
		ReadTimeout                int64
		ConnectTimeout             int64
		PlaceholderGlob            string
		MembersGlob                string
	}{Site: s, Cookie: RouteCookie, CertFile: CertFile, KeyFile: KeyFile, Ciphers: sslCiphers, ReadTimeout: int64(s.ReadTimeout / time.Second),
		ConnectTimeout: int64(ConnectTimeout / time.Second), PlaceholderGlob: placeholderGlob, MembersGlob: MembersDir + "/*.conf"}
	// Affinity is rendered with one node too: clients then already carry their route cookie
	// when a second node is added, and the file says which affinity was asked for.
	switch s.Affinity {
	case AffinityCookie:
		data.Sticky, data.Hash = true, "$hipchatdc_affinity"
	case AffinityClientAddress:
		data.Hash = "$remote_addr"
	}
	var b bytes.Buffer
	if err := siteTemplate.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// directive matches one simple directive line of the rendered file: name and arguments.
var directive = regexp.MustCompile(`^\s*([a-z_0-9]+)\s+([^;{]*);\s*(#.*)?$`)

// ParseSite reads the parameters back from a file Render wrote (or one edited by hand in the
// same shape). Certificate and key are not in the file; they are left empty.
func ParseSite(conf string) (Site, error) {
	var s Site
	block := ""
	upstream := false // the upstream block has a server line (a node or the placeholder) or includes the placeholder
	for _, line := range strings.Split(conf, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "upstream hipchatdc_nodes"):
			block = "upstream"
			continue
		case strings.HasPrefix(t, "server {"), strings.HasPrefix(t, "map "):
			block = strings.Fields(t)[0]
			continue
		}
		m := directive.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, args := m[1], strings.Fields(m[2])
		if len(args) == 0 {
			continue
		}
		switch {
		case block == "upstream" && name == "server":
			// A site written by an earlier version holds the placeholder itself.
			if args[0] != placeholderServer {
				s.Nodes = append(s.Nodes, args[0])
			}
			upstream = true
		case block == "upstream" && name == "include" && args[0] == placeholderGlob:
			upstream = true
		case block == "upstream" && name == "hash":
			if args[0] == "$remote_addr" {
				s.Affinity = AffinityClientAddress
			} else {
				s.Affinity = AffinityCookie
			}
		case block == "server" && name == "server_name":
			s.ServerName = args[0]
		case name == "client_max_body_size":
			s.ClientMaxBodySize = args[0]
		case name == "proxy_read_timeout":
			d, err := time.ParseDuration(args[0])
			if err != nil {
				return s, fmt.Errorf("%s: proxy_read_timeout %q: %w", ConfFile, args[0], err)
			}
			s.ReadTimeout = d
		}
	}
	if s.ServerName == "" || !upstream {
		return s, fmt.Errorf("%s has no server_name or no upstream server: not a site this provider wrote", ConfFile)
	}
	return s, nil
}
