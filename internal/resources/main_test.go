package resources_test

import (
	"os"
	"testing"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/acctest"
	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/lab"
)

func TestMain(m *testing.M) {
	os.Exit(acctest.Main(m, lab.Options{StandaloneESXi: 2})) // ESXi: the standalone-host tests
}
