package resources_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/tlscheck/tlstest"
)

// TestAccReverseProxy_fromTemplate clones the proxy from a Debian template made by hand instead
// of importing an OVA: the source every resource accepts besides ova_path and ova_url.
func TestAccReverseProxy_fromTemplate(t *testing.T) {
	t.Parallel()
	l := acctest.Lab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	acctest.ImportVM(t, ctx, "debian-12-template", acctest.OVA(t, lab.KindDebian, 20))
	ca, err := tlstest.NewCA("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(tlstest.Options{DNSNames: []string{publicName}})
	if err != nil {
		t.Fatal(err)
	}
	name := "tf-proxy-clone"
	cfg := strings.Replace(proxyConfig(t, l, proxyOpts{name: name, address: acctest.LabAddress(t, l, false, 216), cert: leaf, nodes: []string{"10.0.0.100"}}),
		fmt.Sprintf("ova_path        = %q", acctest.OVA(t, lab.KindDebian, 20)), `template        = "debian-12-template"`, 1)
	if !strings.Contains(cfg, "template") {
		t.Fatal("the configuration does not clone")
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.Factories(),
		CheckDestroy:             checkNoVM(t, name),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("hipchatdc_reverse_proxy.edge", "template", "debian-12-template"),
				checkVMHardware(t, name, 2, 2048),
				func(*terraform.State) error {
					if _, ok := acctest.VM(t, "debian-12-template"); !ok {
						return fmt.Errorf("the template is gone")
					}
					if got := acctest.GuestExec(t, l, name, "hostname"); got != name+".example.com" {
						return fmt.Errorf("clone's hostname %q", got)
					}
					return nil
				},
			),
		}},
	})
}
