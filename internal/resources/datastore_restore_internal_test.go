package resources

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// TestPlanWarnsOfARestoreAtEveryCreate: a plan that creates the data stores VM with
// restore_from set (a first restore, a replacement, a VM lost and planned again) warns on
// restore_from, naming the backup it would restore; a plan of the existing VM says nothing.
func TestPlanWarnsOfARestoreAtEveryCreate(t *testing.T) {
	ctx := context.Background()
	backup := filepath.Join(t.TempDir(), "hipchatdc-20261130T120000Z")
	typ := restoreFromAttribute().GetType().(types.ObjectType)
	rf, d := types.ObjectValueFrom(ctx, typ.AttrTypes, restoreFrom{Path: types.StringValue(backup)})
	if d.HasError() {
		t.Fatal(d)
	}
	warnings := func(state *datastoreModel) []diag.Diagnostic {
		plan := &datastoreModel{RestoreFrom: rf}
		var diags diag.Diagnostics
		datastoreRole{}.modifyPlan(ctx, plan, state, &diags)
		var w []diag.Diagnostic
		for _, x := range diags.Warnings() {
			if a, ok := x.(diag.DiagnosticWithPath); ok && a.Path().Equal(path.Root("restore_from")) {
				w = append(w, x)
			}
		}
		return w
	}
	w := warnings(nil)
	if len(w) != 1 || !strings.Contains(w[0].Detail(), `restore_from = "`+backup+`"`) || !strings.Contains(w[0].Detail(), "remove restore_from") {
		t.Errorf("plan of a create: warnings on restore_from %v, want one naming %q and saying to remove restore_from", w, backup)
	}
	if w := warnings(&datastoreModel{RestoreFrom: rf}); len(w) != 0 {
		t.Errorf("plan of the existing VM: warnings on restore_from %v, want none", w)
	}
}
