package resources_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
)

// planWarnings records the warnings the provider returns from its plans: what `terraform plan`
// prints as "Warning: ..." (terraform-plugin-testing has no check for them). It serves the real
// provider and only looks at its answers.
type planWarnings struct {
	mu  sync.Mutex
	got []string // "ATTRIBUTE: SUMMARY: DETAIL"
	// others are the warnings of applies and refreshes, which `terraform apply` and `terraform
	// plan` print too: "apply: ..." or "read: ..." then as got.
	others []string
}

func (w *planWarnings) factories() map[string]func() (tfprotov6.ProviderServer, error) {
	out := map[string]func() (tfprotov6.ProviderServer, error){}
	for name, f := range acctest.Factories() {
		out[name] = func() (tfprotov6.ProviderServer, error) {
			s, err := f()
			if err != nil {
				return nil, err
			}
			return warningRecorder{s, w}, nil
		}
	}
	return out
}

func (w *planWarnings) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got, w.others = nil, nil
}

func (w *planWarnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.got...)
}

type warningRecorder struct {
	tfprotov6.ProviderServer
	w *planWarnings
}

func (r warningRecorder) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	resp, err := r.ProviderServer.PlanResourceChange(ctx, req)
	if resp != nil {
		r.w.record(&r.w.got, "", resp.Diagnostics)
	}
	return resp, err
}

func (r warningRecorder) ApplyResourceChange(ctx context.Context, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	resp, err := r.ProviderServer.ApplyResourceChange(ctx, req)
	if resp != nil {
		r.w.record(&r.w.others, "apply: ", resp.Diagnostics)
	}
	return resp, err
}

func (r warningRecorder) ReadResource(ctx context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	resp, err := r.ProviderServer.ReadResource(ctx, req)
	if resp != nil {
		r.w.record(&r.w.others, "read: ", resp.Diagnostics)
	}
	return resp, err
}

func (w *planWarnings) record(to *[]string, prefix string, diags []*tfprotov6.Diagnostic) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range diags {
		if d.Severity == tfprotov6.DiagnosticSeverityWarning {
			attr := ""
			if d.Attribute != nil {
				attr = d.Attribute.String()
			}
			*to = append(*to, prefix+attr+": "+d.Summary+": "+d.Detail)
		}
	}
}

// everywhere is every warning recorded: plans, applies and refreshes.
func (w *planWarnings) everywhere() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append(append([]string(nil), w.got...), w.others...)
}

// takeApplies returns the warnings of the applies recorded since the last call, "ATTRIBUTE:
// SUMMARY: DETAIL", and forgets them with those of the refreshes.
func (w *planWarnings) takeApplies() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var got []string
	for _, o := range w.others {
		if a, ok := strings.CutPrefix(o, "apply: "); ok {
			got = append(got, a)
		}
	}
	w.others = nil
	return got
}

// expectApply checks that the step's apply warned once, on attr, with each of parts.
func (w *planWarnings) expectApply(attr string, parts ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		got := w.takeApplies()
		if len(got) != 1 || !strings.Contains(got[0], `"`+attr+`"`) {
			return fmt.Errorf("apply warnings %q, want one on %s", got, attr)
		}
		for _, p := range parts {
			if !strings.Contains(got[0], p) {
				return fmt.Errorf("apply warning %q does not say %q", got[0], p)
			}
		}
		return nil
	}
}

// countAnywhere checks that the step's plans, applies and refreshes warned n times on attr.
func (w *planWarnings) countAnywhere(attr string, n int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		got, c := w.everywhere(), 0
		for _, g := range got {
			if strings.Contains(g, `"`+attr+`"`) {
				c++
			}
		}
		if c != n {
			return fmt.Errorf("%d warnings on %s, want %d; warnings: %q", c, attr, n, got)
		}
		return nil
	}
}

// expectWarning checks that a plan of the step warned on attr with a detail containing each
// of parts.
func (w *planWarnings) expectWarning(attr string, parts ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		got := w.all()
		for _, g := range got {
			if !strings.Contains(g, `"`+attr+`"`) {
				continue
			}
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(g, p)
			}
			if ok {
				return nil
			}
		}
		return fmt.Errorf("no plan warning on %s saying %q; warnings: %q", attr, parts, got)
	}
}

func (w *planWarnings) expectNone() resource.TestCheckFunc {
	return func(*terraform.State) error {
		if got := w.all(); len(got) > 0 {
			return fmt.Errorf("the plan warned: %q", got)
		}
		return nil
	}
}

// powerRecords is what `last -x reboot shutdown` in the guest shows, newest first: "reboot"
// for each boot, "shutdown" for each clean shutdown (a hard power-off writes none).
func powerRecords(t *testing.T, vmName string) []string {
	out := acctest.GuestExec(t, acctest.Lab(t), vmName, "last -x -f /var/log/wtmp reboot shutdown")
	var recs []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || (f[0] != "reboot" && f[0] != "shutdown") {
			continue // the "wtmp begins" line
		}
		recs = append(recs, f[0])
	}
	return recs
}

func expectPowerRecords(t *testing.T, vmName string, want ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if got := powerRecords(t, vmName); strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("guest %s: last -x reboot shutdown shows %q (newest first), want %q", vmName, got, want)
		}
		return nil
	}
}

// withHotAdd adds cpu_hot_add_enabled and memory_hot_add_enabled to a nodeVMConfig.
func withHotAdd(t *testing.T, cfg string, on bool) string {
	out := strings.Replace(cfg, "  num_cpus", fmt.Sprintf("  cpu_hot_add_enabled    = %t\n  memory_hot_add_enabled = %t\n  num_cpus", on, on), 1)
	if out == cfg {
		t.Fatal("num_cpus not found in the configuration")
	}
	return out
}

// TestAccNode_resizePowerCycle grows a node with hot add off (the default): the plan warns that
// the VM will be power-cycled and why, and the guest is shut down cleanly (its wtmp has a
// shutdown record between the two boots), not powered off hard.
func TestAccNode_resizePowerCycle(t *testing.T) {
	t.Parallel()
	name := "tf-node-resize"
	var w planWarnings
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: w.factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{
			{
				Config: nodeVMConfig(t, name, 8, 16384, 40),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("hipchatdc_node.app", "cpu_hot_add_enabled", "false"),
					resource.TestCheckResourceAttr("hipchatdc_node.app", "memory_hot_add_enabled", "false"),
					expectPowerRecords(t, name, "reboot"),
				),
			},
			{
				PreConfig: w.reset,
				Config:    nodeVMConfig(t, name, 12, 20480, 40),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_node.app", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					w.expectWarning("num_cpus", `VM "tf-node-resize" off and on again`,
						"num_cpus grows from 8 to 12 with CPU hot add off", "memory grows from 16384 to 20480 MiB with memory hot add off",
						"through VMware Tools", "2m0s"),
					checkVMHardware(t, name, 12, 20480),
					expectPowerRecords(t, name, "reboot", "shutdown", "reboot"),
				),
			},
			{
				// Nothing left to do: no plan, no warning.
				PreConfig: w.reset,
				Config:    nodeVMConfig(t, name, 12, 20480, 40),
				PlanOnly:  true,
			},
		},
	})
	if got := w.all(); len(got) > 0 {
		t.Errorf("an empty plan warned: %q", got)
	}
}

// TestAccNode_hotAdd creates a node with CPU and memory hot add on: growing it is made while
// the guest runs (no warning, no new boot, a process started before still running), the
// settings read back on import, and shrinking it still power-cycles the VM, with a warning and
// a clean shutdown.
func TestAccNode_hotAdd(t *testing.T) {
	t.Parallel()
	name := "tf-node-hotadd"
	var w planWarnings
	var pid string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: w.factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{
			{
				Config: withHotAdd(t, nodeVMConfig(t, name, 8, 16384, 40), true),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("hipchatdc_node.app", "cpu_hot_add_enabled", "true"),
					resource.TestCheckResourceAttr("hipchatdc_node.app", "memory_hot_add_enabled", "true"),
					func(*terraform.State) error {
						vm, _ := acctest.VM(t, name)
						if c := vm.Config; c.CpuHotAddEnabled == nil || !*c.CpuHotAddEnabled || c.MemoryHotAddEnabled == nil || !*c.MemoryHotAddEnabled {
							return fmt.Errorf("VM %s: cpuHotAddEnabled %v, memoryHotAddEnabled %v in vSphere, want both true", name, c.CpuHotAddEnabled, c.MemoryHotAddEnabled)
						}
						return nil
					},
					expectPowerRecords(t, name, "reboot"),
				),
			},
			{
				PreConfig: func() {
					w.reset()
					// A long-running process in the guest: it survives only if the guest does.
					pid = acctest.GuestExec(t, acctest.Lab(t), name, "nohup sleep 86400 >/dev/null 2>&1 & echo $!")
				},
				Config: withHotAdd(t, nodeVMConfig(t, name, 12, 20480, 40), true),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("hipchatdc_node.app", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					w.expectNone(),
					checkVMHardware(t, name, 12, 20480),
					expectPowerRecords(t, name, "reboot"),
					func(*terraform.State) error {
						if cmd := acctest.GuestExec(t, acctest.Lab(t), name, "cat /proc/"+pid+"/cmdline 2>/dev/null | tr '\\0' ' ' || true"); !strings.Contains(cmd, "sleep 86400") {
							return fmt.Errorf("process %s (sleep 86400) no longer runs in the guest (%q): the guest was restarted", pid, cmd)
						}
						return nil
					},
				),
			},
			importStep(func(s *terraform.State) (string, error) {
				return s.RootModule().Resources["hipchatdc_node.app"].Primary.ID, nil
			}),
			{
				// vSphere cannot take vCPUs or memory away from a running VM.
				PreConfig: w.reset,
				Config:    withHotAdd(t, nodeVMConfig(t, name, 8, 16384, 40), true),
				Check: resource.ComposeAggregateTestCheckFunc(
					w.expectWarning("num_cpus", "num_cpus shrinks from 12 to 8", "memory shrinks from 20480 to 16384 MiB"),
					checkVMHardware(t, name, 8, 16384),
					expectPowerRecords(t, name, "reboot", "shutdown", "reboot"),
				),
			},
		},
	})
}
