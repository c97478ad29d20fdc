package resources

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/health"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/hipchat"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/identity"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/guest/nfs"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck"
)

// NewHealthDataSource is hipchatdc_health: what a deployment's `check` blocks assert on, read
// from the VMs at every plan.
func NewHealthDataSource() datasource.DataSource { return &healthDataSource{} }

var (
	_ datasource.DataSourceWithConfigure      = (*healthDataSource)(nil)
	_ datasource.DataSourceWithValidateConfig = (*healthDataSource)(nil)
)

type healthDataSource struct{ data *ProviderData }

type healthModel struct {
	NodeAddress       types.String     `tfsdk:"node_address"`
	DataStoresAddress types.String     `tfsdk:"data_stores_address"`
	ProxyAddress      types.String     `tfsdk:"proxy_address"`
	PublicHostname    types.String     `tfsdk:"public_hostname"`
	HTTPSPort         types.Int64      `tfsdk:"https_port"`
	NFSExportPath     types.String     `tfsdk:"nfs_export_path"`
	SelfCheckCommand  types.String     `tfsdk:"selfcheck_command"`
	Connection        *ConnectionModel `tfsdk:"ssh"`

	SelfCheckPassed        types.Bool    `tfsdk:"self_check_passed"`
	SelfCheckOutput        types.String  `tfsdk:"self_check_output"`
	CertificateNotAfter    types.String  `tfsdk:"certificate_not_after"`
	CertificateDaysLeft    types.Int64   `tfsdk:"certificate_days_left"`
	CertificateFingerprint types.String  `tfsdk:"certificate_fingerprint"`
	NFSSizeBytes           types.Int64   `tfsdk:"nfs_size_bytes"`
	NFSFreeBytes           types.Int64   `tfsdk:"nfs_free_bytes"`
	NFSFreePercent         types.Float64 `tfsdk:"nfs_free_percent"`
	PostgresDataDirectory  types.String  `tfsdk:"postgres_data_directory"`
	PostgresSizeBytes      types.Int64   `tfsdk:"postgres_size_bytes"`
	PostgresFreeBytes      types.Int64   `tfsdk:"postgres_free_bytes"`
	PostgresFreePercent    types.Float64 `tfsdk:"postgres_free_percent"`
	ClockOffsets           types.Map     `tfsdk:"clock_offsets"`
	MaxClockOffset         types.Float64 `tfsdk:"max_clock_offset"`
	LastBackupStatus       types.String  `tfsdk:"last_backup_status"`
	LastBackupFinished     types.String  `tfsdk:"last_backup_finished"`
	LastBackupAge          types.Int64   `tfsdk:"last_backup_age"`
	LastBackupOK           types.Bool    `tfsdk:"last_backup_ok"`
	LastBackupError        types.String  `tfsdk:"last_backup_error"`
	LastBackupName         types.String  `tfsdk:"last_backup_name"`
	LastBackupBytes        types.Int64   `tfsdk:"last_backup_bytes"`
	Problems               types.List    `tfsdk:"problems"`
}

// The VMs as the problems list names them, and the keys of clock_offsets.
const (
	roleNode       = "node"
	roleDataStores = "data_stores"
	roleProxy      = "proxy"
)

var roleWords = map[string]string{
	roleNode:       "the Hipchat node",
	roleDataStores: "the data stores VM",
	roleProxy:      "the reverse proxy",
}

const (
	// healthReadTimeout bounds the whole read: the node's self-check alone may take a minute
	// when a data store does not answer (its clients' own timeouts).
	healthReadTimeout = 3 * time.Minute
	// healthDialTimeout is how long a VM that does not answer is tried: a plan must not wait
	// Terraform's five minutes for a VM that is down, and 30 s covers a loaded one (as a
	// resource's refresh does).
	healthDialTimeout = 30 * time.Second
	// tlsTimeout bounds the handshake with the proxy.
	tlsTimeout = 15 * time.Second
)

// hostOrAddress is an IP address or a DNS name.
var hostOrAddress = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9])?$`)

func (d *healthDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_health"
}

func (d *healthDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = healthSchema()
}

func healthSchema() schema.Schema {
	address := func(what string) schema.StringAttribute {
		return schema.StringAttribute{
			Required:            true,
			MarkdownDescription: "Address of " + what + ", reached over SSH with the `ssh` block's settings (and the provider's).",
			Validators:          []validator.String{matches(hostOrAddress, "must be an IP address or a DNS name")},
		}
	}
	computed := func(doc string) schema.Attribute {
		return schema.StringAttribute{Computed: true, MarkdownDescription: doc}
	}
	num := func(doc string) schema.Attribute {
		return schema.Int64Attribute{Computed: true, MarkdownDescription: doc}
	}
	real := func(doc string) schema.Attribute {
		return schema.Float64Attribute{Computed: true, MarkdownDescription: doc}
	}
	attrs := map[string]schema.Attribute{
		"node_address":        address("the Hipchat node (`hipchatdc_node`'s `ipv4_address`)"),
		"data_stores_address": address("the data stores VM (`hipchatdc_datastore_node`'s `ipv4_address`)"),
		"proxy_address": schema.StringAttribute{
			Required: true,
			MarkdownDescription: "Address of the reverse proxy (`hipchatdc_reverse_proxy`'s `ipv4_address`): reached over SSH for its clock, and on `https_port` for the certificate it serves, " +
				"directly from where Terraform runs, as a client connects.",
			Validators: []validator.String{matches(hostOrAddress, "must be an IP address or a DNS name")},
		},
		"public_hostname": schema.StringAttribute{
			Required:            true,
			MarkdownDescription: "The cluster's public DNS name, sent in the TLS handshake (SNI) so that the proxy serves the certificate clients get.",
			Validators:          []validator.String{matches(hostOrAddress, "must be a DNS name")},
		},
		"https_port": schema.Int64Attribute{
			Optional:            true,
			MarkdownDescription: "Port the proxy serves HTTPS on. Default 443.",
			Validators:          portValidators,
		},
		"nfs_export_path": schema.StringAttribute{
			Optional:            true,
			MarkdownDescription: "The data stores VM's exported directory (`hipchatdc_datastore_node`'s `nfs_export_path`), whose volume's free space is read. Default `" + nfs.DefaultPath + "`.",
			Validators:          []validator.String{matches(absPath, "must be an absolute path")},
		},
		"selfcheck_command": schema.StringAttribute{
			Optional:            true,
			MarkdownDescription: "The node's self-check, as `hipchatdc_node`'s `data_stores.selfcheck_command`. Default `" + hipchat.DefaultSelfCheck + "`.",
		},

		"self_check_passed": schema.BoolAttribute{
			Computed: true,
			MarkdownDescription: "Whether the node's self-check passed: it connects to Postgres, Redis and the NFS share with the node's settings (and writes, reads back and removes a probe file on the share). " +
				"Null when it could not run (see `problems`).",
		},
		"self_check_output":       computed("What the self-check printed, one line per data store (the clients' own words on a failure)."),
		"certificate_not_after":   computed("When the certificate the proxy serves for `public_hostname` expires (RFC 3339, UTC)."),
		"certificate_days_left":   num("Whole days until that certificate expires: 0 on its last day, negative once it has expired. Null when the proxy could not be reached over TLS (see `problems`)."),
		"certificate_fingerprint": computed("SHA-256 fingerprint of that certificate, as `hipchatdc_reverse_proxy`'s `certificate_fingerprint` (equal when the proxy serves the configured one)."),
		"nfs_size_bytes":          num("Size of the file system holding `nfs_export_path` on the data stores VM, in bytes."),
		"nfs_free_bytes":          num("Bytes still free on it for a non-root writer (what `df` shows as available)."),
		"nfs_free_percent":        real("`nfs_free_bytes` as a percentage of `nfs_size_bytes`."),
		"postgres_data_directory": computed("The Postgres cluster's data directory on the data stores VM (from `pg_lsclusters`)."),
		"postgres_size_bytes":     num("Size of the file system holding the Postgres data directory, in bytes."),
		"postgres_free_bytes":     num("Bytes still free on it for the postgres user (what `df` shows as available)."),
		"postgres_free_percent":   real("`postgres_free_bytes` as a percentage of `postgres_size_bytes`."),
		"clock_offsets": schema.MapAttribute{
			ElementType: types.Float64Type, Computed: true,
			MarkdownDescription: "Each VM's clock offset from its NTP servers in seconds, by VM (`node`, `data_stores`, `proxy`): the guest's clock minus NTP time, positive when the guest is ahead " +
				"(as chronyc says \"fast of NTP time\"). Measured from the guest with an SNTP query to each NTP server it is configured with, keeping the answer with the shortest round trip; " +
				"exact to within half that round trip. A VM whose servers did not answer is left out (see `problems`).",
		},
		"max_clock_offset": real("The largest absolute value in `clock_offsets`, in seconds; null when no VM could be measured."),
		"last_backup_status": computed("The last backup run on the data stores VM: `ok`, `failed`, or `never` when no backup has run there (no `" + health.BackupStatusFile + "`). " +
			"Null when it could not be read (see `problems`)."),
		"last_backup_finished": computed("When the last backup run on the data stores VM ended (RFC 3339), from `" + health.BackupStatusFile + "`. Null when no backup has ever run there."),
		"last_backup_age":      num("Seconds since the last backup run ended. Null when no backup has ever run."),
		"last_backup_ok":       schema.BoolAttribute{Computed: true, MarkdownDescription: "Whether the last backup run succeeded. Null when no backup has ever run."},
		"last_backup_error":    computed("Why the last backup run failed, in one line. Null when it succeeded or none ran."),
		"last_backup_name":     computed("Name of the last backup (`hipchatdc-<host name>-<UTC time>`)."),
		"last_backup_bytes":    num("Size of the last backup in bytes."),
		"problems": schema.ListAttribute{
			ElementType: types.StringType, Computed: true,
			MarkdownDescription: "What could not be read, one sentence each (a VM that does not answer over SSH, a proxy that refuses the TLS handshake, NTP servers that do not answer); " +
				"the attributes it concerns are null. Empty when everything was read. A VM that cannot be reached is reported here instead of failing the read, so that the other " +
				"checks still run and a `check` block warns about it: assert `length(problems) == 0`.",
		},
	}
	return schema.Schema{
		MarkdownDescription: "The health of a small-scale deployment, read from its VMs at every plan, for `check` blocks: the node's self-check, the days left on the certificate the proxy serves, " +
			"free space on the NFS volume and the Postgres data directory, each VM's clock offset from its NTP servers, and the last backup's age and result. " +
			"It changes nothing on the VMs, but for the self-check's probe file on the NFS share. Declare it inside a `check` block (a scoped data source), so that a failed read warns too.",
		Attributes: attrs,
		Blocks: map[string]schema.Block{
			"ssh": schema.SingleNestedBlock{
				MarkdownDescription: "How to reach the three VMs over SSH, as the resources' `ssh` block; unset attributes come from the provider's `ssh` block. `host` is not used: each VM is reached at its address above.",
				Attributes:          dataSourceConnectionAttributes(),
			},
		},
	}
}

func (d *healthDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	if req.ProviderData == nil {
		return
	}
	data, ok := req.ProviderData.(*ProviderData)
	if !ok {
		resp.Diagnostics.AddError("Unexpected provider data", fmt.Sprintf("got %T, want *resources.ProviderData; this is a bug in the provider", req.ProviderData))
		return
	}
	d.data = data
}

func (d *healthDataSource) ValidateConfig(ctx context.Context, req datasource.ValidateConfigRequest, resp *datasource.ValidateConfigResponse) {
	var m healthModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ValidateHostKeySettings(m.Connection, path.Root("ssh"), "this data source's ssh block", &resp.Diagnostics)
	if m.Connection != nil && known(m.Connection.Host) {
		resp.Diagnostics.AddAttributeError(path.Root("ssh").AtName("host"), "ssh.host is not used here",
			fmt.Sprintf("ssh.host = %q: hipchatdc_health reaches each VM at node_address, data_stores_address and proxy_address; remove host.", m.Connection.Host.ValueString()))
	}
}

func (d *healthDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m healthModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ops, core := vmOps{data: d.data}, &vmCore{Connection: m.Connection}
	// Wrong ssh settings are the configuration's fault, not a VM's: an error on the block, as
	// in the resources.
	sshFor := func(host string) (guest.Config, error) {
		cfg, err := ops.guestConfig(core, host)
		if err == nil {
			err = cfg.Validate()
		}
		if cfg.Timeout == 0 || cfg.Timeout > healthDialTimeout {
			cfg.Timeout = healthDialTimeout
		}
		return cfg, err
	}
	if _, err := sshFor(m.NodeAddress.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("ssh"), "Invalid ssh settings", err.Error())
		return
	}

	ctx, cancel := context.WithTimeout(ctx, healthReadTimeout)
	defer cancel()
	r := healthReader{ctx: ctx, dial: func(host string) (*guest.Conn, error) {
		cfg, _ := sshFor(host)
		return guest.Dial(ctx, cfg)
	}}
	nfsPath := nfs.DefaultPath
	if known(m.NFSExportPath) {
		nfsPath = m.NFSExportPath.ValueString()
	}
	port := 443
	if known(m.HTTPSPort) {
		port = int(m.HTTPSPort.ValueInt64())
	}
	var (
		wg    sync.WaitGroup
		node  nodeHealth
		data  dataStoresHealth
		proxy clockHealth
		cert  certHealth
	)
	wg.Add(4)
	go func() {
		defer wg.Done()
		node = r.node(m.NodeAddress.ValueString(), hipchat.Commands{SelfCheck: m.SelfCheckCommand.ValueString()})
	}()
	go func() { defer wg.Done(); data = r.dataStores(m.DataStoresAddress.ValueString(), nfsPath) }()
	go func() { defer wg.Done(); proxy = r.clockOnly(roleProxy, m.ProxyAddress.ValueString(), identity.Debian) }()
	go func() {
		defer wg.Done()
		cert = readCertificate(ctx, m.ProxyAddress.ValueString(), port, m.PublicHostname.ValueString())
	}()
	wg.Wait()
	m.fill(time.Now(), node, data, proxy, cert, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// healthReader reads one deployment's VMs.
type healthReader struct {
	ctx  context.Context
	dial func(host string) (*guest.Conn, error)
}

// clockHealth is a VM's clock, or why it was not measured.
type clockHealth struct {
	offset   *time.Duration
	problems []string
}

type nodeHealth struct {
	clockHealth
	selfCheck *hipchat.SelfCheckResult
}

type dataStoresHealth struct {
	clockHealth
	read *health.DataStores
}

type certHealth struct {
	notAfter    time.Time
	fingerprint string
	problem     string
}

// connect dials a VM; a VM that does not answer is a problem to report, not an error.
func (r healthReader) connect(role, host string, h *clockHealth) *guest.Conn {
	conn, err := r.dial(host)
	if err != nil {
		h.problems = append(h.problems, fmt.Sprintf("%s (%s): cannot connect over SSH: %v", roleWords[role], host, err))
		return nil
	}
	return conn
}

// clock measures the VM's clock against the NTP servers it is configured with.
func (r healthReader) clock(conn *guest.Conn, role, host string, flavor identity.Flavor, h *clockHealth) {
	id, err := identity.Read(r.ctx, conn, flavor)
	if err != nil {
		h.problems = append(h.problems, fmt.Sprintf("%s (%s): cannot read its NTP servers: %v", roleWords[role], host, err))
		return
	}
	if len(id.NTPServers) == 0 {
		file := identity.TimesyncdFile
		if flavor == identity.Appliance {
			file = identity.NTPConfFile
		}
		h.problems = append(h.problems, fmt.Sprintf("%s (%s): no NTP servers configured in %s, so its clock offset cannot be measured; set ntp_servers", roleWords[role], host, file))
		return
	}
	samples, err := health.MeasureClock(r.ctx, conn, id.NTPServers)
	if err != nil {
		h.problems = append(h.problems, fmt.Sprintf("%s (%s): %v", roleWords[role], host, err))
		return
	}
	best, ok := health.Best(samples)
	if !ok {
		h.problems = append(h.problems, fmt.Sprintf("%s (%s): none of its NTP servers answered: %s", roleWords[role], host, health.Failures(samples)))
		return
	}
	h.offset = &best.Offset
}

func (r healthReader) clockOnly(role, host string, flavor identity.Flavor) clockHealth {
	var h clockHealth
	if conn := r.connect(role, host, &h); conn != nil {
		defer conn.Close()
		r.clock(conn, role, host, flavor, &h)
	}
	return h
}

func (r healthReader) node(host string, c hipchat.Commands) nodeHealth {
	var h nodeHealth
	conn := r.connect(roleNode, host, &h.clockHealth)
	if conn == nil {
		return h
	}
	defer conn.Close()
	r.clock(conn, roleNode, host, identity.Appliance, &h.clockHealth)
	res, err := hipchat.SelfCheck(r.ctx, conn, c)
	if err != nil {
		h.problems = append(h.problems, fmt.Sprintf("%s (%s): the self-check did not finish: %v", roleWords[roleNode], host, err))
		return h
	}
	h.selfCheck = &res
	return h
}

func (r healthReader) dataStores(host, nfsPath string) dataStoresHealth {
	var h dataStoresHealth
	conn := r.connect(roleDataStores, host, &h.clockHealth)
	if conn == nil {
		return h
	}
	defer conn.Close()
	r.clock(conn, roleDataStores, host, identity.Debian, &h.clockHealth)
	got, err := health.ReadDataStores(r.ctx, conn, nfsPath)
	if err != nil {
		h.problems = append(h.problems, fmt.Sprintf("%s (%s): %v", roleWords[roleDataStores], host, err))
		return h
	}
	for _, p := range []string{got.NFSError, got.PostgresError, got.BackupError} {
		if p != "" {
			h.problems = append(h.problems, fmt.Sprintf("%s (%s): %s", roleWords[roleDataStores], host, p))
		}
	}
	h.read = &got
	return h
}

// readCertificate makes a TLS handshake with the proxy, as a client of public_hostname does,
// and reads the certificate it serves. Nothing is verified: a certificate that is expired or
// that clients would not trust is exactly what this must still report.
func readCertificate(ctx context.Context, host string, port int, serverName string) certHealth {
	ctx, cancel := context.WithTimeout(ctx, tlsTimeout)
	defer cancel()
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	d := tls.Dialer{Config: &tls.Config{ServerName: serverName, InsecureSkipVerify: true}} //nolint:gosec // reads the certificate whatever it is; trust is not what is measured
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return certHealth{problem: fmt.Sprintf("%s (%s): no TLS handshake for %s: %v", roleWords[roleProxy], addr, serverName, err)}
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return certHealth{problem: fmt.Sprintf("%s (%s): served no certificate for %s", roleWords[roleProxy], addr, serverName)}
	}
	return certHealth{notAfter: certs[0].NotAfter, fingerprint: tlscheck.Fingerprint(certs[0])}
}

// daysLeft is the whole days from now until notAfter, rounded down: 0 on the last day,
// negative once it has passed.
func daysLeft(now, notAfter time.Time) int64 {
	return int64(math.Floor(notAfter.Sub(now).Hours() / 24))
}

// fill records what was read; what was not stays null, with the reason in problems.
func (m *healthModel) fill(now time.Time, node nodeHealth, data dataStoresHealth, proxy clockHealth, cert certHealth, diags *diag.Diagnostics) {
	var problems []string
	problems = append(problems, node.problems...)
	problems = append(problems, data.problems...)
	problems = append(problems, proxy.problems...)

	m.SelfCheckPassed, m.SelfCheckOutput = types.BoolNull(), types.StringNull()
	if node.selfCheck != nil {
		m.SelfCheckPassed, m.SelfCheckOutput = types.BoolValue(node.selfCheck.Passed), types.StringValue(node.selfCheck.Output)
	}

	m.CertificateNotAfter, m.CertificateDaysLeft, m.CertificateFingerprint = types.StringNull(), types.Int64Null(), types.StringNull()
	if cert.problem != "" {
		problems = append(problems, cert.problem)
	} else {
		m.CertificateNotAfter = types.StringValue(cert.notAfter.UTC().Format(time.RFC3339))
		m.CertificateDaysLeft = types.Int64Value(daysLeft(now, cert.notAfter))
		m.CertificateFingerprint = types.StringValue(cert.fingerprint)
	}

	space := func(s *health.Space) (size, free types.Int64, pct types.Float64) {
		if s == nil {
			return types.Int64Null(), types.Int64Null(), types.Float64Null()
		}
		return types.Int64Value(s.Size), types.Int64Value(s.Available), types.Float64Value(math.Round(s.FreePercent()*100) / 100)
	}
	var ds health.DataStores
	if data.read != nil {
		ds = *data.read
	}
	m.NFSSizeBytes, m.NFSFreeBytes, m.NFSFreePercent = space(ds.NFS)
	m.PostgresSizeBytes, m.PostgresFreeBytes, m.PostgresFreePercent = space(ds.Postgres)
	m.PostgresDataDirectory = types.StringNull()
	if ds.Postgres != nil {
		m.PostgresDataDirectory = types.StringValue(ds.Postgres.Path)
	}

	b := ds.Backup
	m.LastBackupFinished, m.LastBackupAge, m.LastBackupOK = types.StringNull(), types.Int64Null(), types.BoolNull()
	m.LastBackupError, m.LastBackupName, m.LastBackupBytes = types.StringNull(), types.StringNull(), types.Int64Null()
	m.LastBackupStatus = types.StringNull()
	switch {
	case data.read == nil || ds.BackupError != "":
	case !b.Present:
		m.LastBackupStatus = types.StringValue("never")
	case b.OK:
		m.LastBackupStatus = types.StringValue("ok")
	default:
		m.LastBackupStatus = types.StringValue("failed")
	}
	if b.Present && !b.Finished.IsZero() {
		m.LastBackupFinished = types.StringValue(b.Finished.UTC().Format(time.RFC3339))
		m.LastBackupAge = types.Int64Value(int64(now.Sub(b.Finished) / time.Second))
		m.LastBackupOK = types.BoolValue(b.OK)
		m.LastBackupName, m.LastBackupBytes = stringValue(b.Name), types.Int64Value(b.Bytes)
		if !b.OK {
			m.LastBackupError = types.StringValue(b.Error)
		}
	}

	offsets := map[string]attr.Value{}
	var largest *float64
	for role, h := range map[string]clockHealth{roleNode: node.clockHealth, roleDataStores: data.clockHealth, roleProxy: proxy} {
		if h.offset == nil {
			continue
		}
		s := h.offset.Seconds()
		offsets[role] = types.Float64Value(s)
		if largest == nil || math.Abs(s) > *largest {
			a := math.Abs(s)
			largest = &a
		}
	}
	var dd diag.Diagnostics
	m.ClockOffsets, dd = types.MapValue(types.Float64Type, offsets)
	diags.Append(dd...)
	m.MaxClockOffset = types.Float64Null()
	if largest != nil {
		m.MaxClockOffset = types.Float64Value(*largest)
	}

	elems := make([]attr.Value, 0, len(problems))
	for _, p := range problems {
		elems = append(elems, types.StringValue(p))
	}
	m.Problems, dd = types.ListValue(types.StringType, elems)
	diags.Append(dd...)
}
