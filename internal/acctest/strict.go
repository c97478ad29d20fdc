package acctest

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/hipchatdc/terraform-provider-hipchatdc/internal/provider"
)

// StrictFactories serves the provider like Factories, and fails t when an apply returns a
// state that holds an unknown value. Terraform reports that as "Provider returned invalid
// result object after apply", next to the apply's own error when the apply failed, and a test
// that expects that error cannot tell the two apart from the message alone.
func StrictFactories(t testing.TB) map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"hipchatdc": func() (tfprotov6.ProviderServer, error) {
			s, err := providerserver.NewProtocol6WithError(provider.New("test")())()
			if err != nil {
				return nil, err
			}
			return &strictServer{ProviderServer: s, t: t}, nil
		},
	}
}

type strictServer struct {
	tfprotov6.ProviderServer
	t testing.TB
}

func (s *strictServer) ApplyResourceChange(ctx context.Context, req *tfprotov6.ApplyResourceChangeRequest) (*tfprotov6.ApplyResourceChangeResponse, error) {
	resp, err := s.ProviderServer.ApplyResourceChange(ctx, req)
	if err != nil || resp == nil || resp.NewState == nil {
		return resp, err
	}
	schemas, serr := s.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if serr != nil || schemas.ResourceSchemas[req.TypeName] == nil {
		s.t.Errorf("%s: no schema to check the applied state against: %v", req.TypeName, serr)
		return resp, err
	}
	v, uerr := resp.NewState.Unmarshal(schemas.ResourceSchemas[req.TypeName].ValueType())
	switch {
	case uerr != nil:
		s.t.Errorf("%s: the applied state does not decode: %v", req.TypeName, uerr)
	case !v.IsFullyKnown():
		s.t.Errorf("%s: the apply returned a state with unknown values (Terraform: \"Provider returned invalid result object after apply\"): %s", req.TypeName, v)
	}
	return resp, err
}
