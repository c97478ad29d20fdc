package spec

// The guide's network rules the guests' own firewalls enforce (internal/guest/firewall).
//
// "Your private network should only allow inbound connections on port 80 (HTTP), 443 (HTTPS),
// and 22 (SSH)." and "Hipchat nodes must have unrestricted network access to the data stores."
// (small-scale guide, Network configuration requirements).

// Source is who may open a connection to an inbound port.
type Source string

const (
	// FromAnywhere: any address (the proxy's public side).
	FromAnywhere Source = "anywhere"
	// FromNodes: the Hipchat nodes' network (the data-store node's allowed_cidr).
	FromNodes Source = "nodes"
	// FromProvider: the address the provider's SSH session comes from, plus any the user
	// lists (firewall_ssh_sources).
	FromProvider Source = "provider"
)

// Inbound is one TCP service a role's VM accepts connections for.
type Inbound struct {
	Service string
	// Port is the guide's or the service's default port; a resource attribute may move it
	// (redis_port, postgres_port, the SSH port the provider connects to).
	Port int
	From []Source
}

// Ports of the services the guide names.
const (
	SSHPort      = 22   // "22 (SSH)"
	HTTPPort     = 80   // "80 (HTTP)"
	HTTPSPort    = 443  // "443 (HTTPS)"
	PostgresPort = 5432 // PostgreSQL's default port
	NFSv4Port    = 2049 // NFS v4 needs no other port (no portmapper, no mountd)
)

// InboundRules are the connections each role's VM accepts; everything else inbound is
// dropped. The Hipchat node has none: it is the vendor's appliance, the guide asks that nodes
// have "unrestricted network access to any other Hipchat nodes in the cluster", and the
// private network's edge (the reverse proxy) is where the guide's 80/443/22 rule is enforced.
var InboundRules = map[Role][]Inbound{
	// The private network's way in: "only ... port 80 (HTTP), 443 (HTTPS), and 22 (SSH)".
	RoleReverseProxy: {
		{Service: "SSH", Port: SSHPort, From: []Source{FromAnywhere}},
		{Service: "HTTP", Port: HTTPPort, From: []Source{FromAnywhere}},
		{Service: "HTTPS", Port: HTTPSPort, From: []Source{FromAnywhere}},
	},
	// The data stores serve the nodes ("unrestricted network access to the data stores"),
	// and SSH also answers where the provider connects from.
	RoleDataStores: {
		{Service: "SSH", Port: SSHPort, From: []Source{FromNodes, FromProvider}},
		{Service: "Redis", Port: RedisDefaultPort, From: []Source{FromNodes}},
		{Service: "Postgres", Port: PostgresPort, From: []Source{FromNodes}},
		{Service: "NFS", Port: NFSv4Port, From: []Source{FromNodes}},
	},
}
