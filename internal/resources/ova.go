package resources

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/vsphere"
)

// ovaURLScheme refuses at plan time an ova_url that the import cannot stream: only http and
// https are (an ftp:// URL used to pass the plan and fail at apply).
type ovaURLScheme struct{}

func (ovaURLScheme) Description(context.Context) string {
	return "must be an http:// or https:// URL"
}

func (v ovaURLScheme) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (ovaURLScheme) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if !known(req.ConfigValue) {
		return
	}
	raw := req.ConfigValue.ValueString()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		scheme := "no scheme"
		if err == nil && u.Scheme != "" {
			scheme = fmt.Sprintf("scheme %q", u.Scheme)
		}
		resp.Diagnostics.AddAttributeError(req.Path, "OVA URL is not http or https",
			fmt.Sprintf("ova_url = %q: only http:// and https:// URLs with a host can be streamed to vSphere (this one has %s). "+
				"Serve the OVA over http(s), or download it and set ova_path.", vsphere.Redact(raw), scheme))
	}
}

// ovaCAFile checks at plan time that ova_ca_file holds PEM certificates, as the import will
// read it.
type ovaCAFile struct{}

func (ovaCAFile) Description(context.Context) string {
	return "must be a readable PEM file of CA certificates"
}

func (v ovaCAFile) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (ovaCAFile) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if !known(req.ConfigValue) {
		return
	}
	if err := vsphere.CheckCAFile(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Unusable CA file for the OVA's signature",
			fmt.Sprintf("ova_ca_file = %q: %v. Give a PEM file with the certificate of the CA that signs the OVA's publisher's certificate.", req.ConfigValue.ValueString(), unwrapCAFile(err)))
	}
}

// unwrapCAFile is the reason a CA file is unusable, without the file's name, which the
// message already gives.
func unwrapCAFile(err error) error {
	var e *vsphere.CAFileError
	if errors.As(err, &e) {
		return e.Err
	}
	return err
}
