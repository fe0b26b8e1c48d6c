package renderer

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// matchEvent builds an event with two access groups and two approvals.
func matchEvent(tb testing.TB, eventType string) *Event {
	tb.Helper()
	return mustDecode(tb, []byte(`{"event_type":"`+eventType+`","event_time":1732406400.5,"data":{
 "requester":{"email":"ada@example.com"},"grantee":{"name":"Ada Lovelace"},
 "access_flow":{"name":"Production on-call access"},"access_bundle":{"name":"prod-readonly"},
 "access_groups":[
  {"integration":{"name":"prod-postgres","type":"postgresql"},
   "resource_types":[{"id":"postgresql-database","name":"Database"}],
   "access_units":[{"resource":{"name":"billing","type":{"id":"postgresql-table","name":"Table"}},"permission":{"name":"READ_ONLY"}}]},
  {"integration":{"name":"aws-prod","type":"aws-account"},
   "access_units":[{"resource":{"name":"acme-invoices","type":{"id":"aws-s3-bucket","name":"S3 Bucket"}},"permission":{"name":"AmazonS3ReadOnlyAccess"}}]}],
 "approvals":[{"type":"Manual"},{"type":"automatic"}]}}`))
}

// Ensure Renderer.Match applies triggers, the active flag and every filter
// key with AND across keys and OR within a key.
func TestRenderer_Match(t *testing.T) {
	all := Triggers()
	tests := []struct {
		name          string
		givenType     string
		givenActive   bool
		givenTriggers []Trigger
		givenFilters  map[string][]string
		want          bool
	}{
		{name: "TriggerMatches", givenType: "RequestCreated", givenActive: true, givenTriggers: []Trigger{RequestCreated}, want: true},
		{name: "AccessPrefixedType", givenType: "AccessRequestCreated", givenActive: true, givenTriggers: []Trigger{RequestCreated}, want: true},
		{name: "AccessPrefixedTrigger", givenType: "RequestApproved", givenActive: true, givenTriggers: []Trigger{"AccessRequestApproved"}, want: true},
		{name: "OtherTrigger", givenType: "RequestRejected", givenActive: true, givenTriggers: []Trigger{RequestCreated, RequestApproved}, want: false},
		{name: "ManualTrigger", givenType: "Manual", givenActive: true, givenTriggers: []Trigger{Manual}, want: true},
		{name: "ManualNotSubscribed", givenType: "Manual", givenActive: true, givenTriggers: []Trigger{RequestCreated}, want: false},
		{name: "NoTriggers", givenType: "RequestCreated", givenActive: true, want: false},
		{name: "Inactive", givenType: "RequestCreated", givenActive: false, givenTriggers: all, want: false},
		{name: "EmptyFilterIsNoConstraint", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"integration_name": {}, "permission": nil}, want: true},
		{name: "IntegrationName", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"integration_name": {"prod-postgres"}}, want: true},
		{name: "IntegrationNameSecondGroup", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"integration_name": {"aws-prod"}}, want: true},
		{name: "IntegrationNameCaseSensitive", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"integration_name": {"Prod-Postgres"}}, want: false},
		{name: "IntegrationNameOther", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"integration_name": {"staging-postgres"}}, want: false},
		{name: "IntegrationType", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"integration_type": {"aws-account"}}, want: true},
		{name: "IntegrationTypeOther", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"integration_type": {"mysql"}}, want: false},
		{name: "ResourceTypeByUnitName", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"resource_type": {"S3 Bucket"}}, want: true},
		{name: "ResourceTypeByUnitID", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"resource_type": {"postgresql-table"}}, want: true},
		{name: "ResourceTypeByGroupType", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"resource_type": {"postgresql-database"}}, want: true},
		{name: "ResourceTypeByGroupTypeName", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"resource_type": {"Database"}}, want: true},
		{name: "ResourceTypeOther", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"resource_type": {"kubernetes-namespace"}}, want: false},
		{name: "ResourceName", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"resource_name": {"acme-invoices"}}, want: true},
		{name: "ResourceNameOther", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"resource_name": {"orders"}}, want: false},
		{name: "Permission", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"permission": {"READ_ONLY"}}, want: true},
		{name: "PermissionOther", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"permission": {"READ_WRITE"}}, want: false},
		{name: "AccessFlowName", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"access_flow_name": {"Production on-call access"}}, want: true},
		{name: "AccessFlowNameOther", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"access_flow_name": {"Staging"}}, want: false},
		{name: "AccessBundleName", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"access_bundle_name": {"prod-readonly"}}, want: true},
		{name: "AccessBundleNameOther", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"access_bundle_name": {"prod-admin"}}, want: false},
		{name: "RequesterEmail", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"requester_email": {"ada@example.com"}}, want: true},
		{name: "RequesterEmailOther", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"requester_email": {"grace@example.com"}}, want: false},
		{name: "GranteeName", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"grantee_name": {"Ada Lovelace"}}, want: true},
		{name: "GranteeNameOther", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"grantee_name": {"Alan Turing"}}, want: false},
		{name: "ApprovalTypeCaseInsensitive", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"approval_type": {"MANUAL"}}, want: true},
		{name: "ApprovalTypeSecondApproval", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"approval_type": {"Automatic"}}, want: true},
		{name: "ApprovalTypeOther", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"approval_type": {"delegated"}}, want: false},
		{name: "OrWithinKey", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"integration_name": {"staging-postgres", "aws-prod"}}, want: true},
		{name: "AndAcrossKeys", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"integration_name": {"prod-postgres"}, "permission": {"READ_ONLY"}, "approval_type": {"manual"}}, want: true},
		{name: "AndAcrossKeysOneFails", givenType: "RequestGranted", givenActive: true, givenTriggers: all, givenFilters: map[string][]string{"integration_name": {"prod-postgres"}, "requester_email": {"grace@example.com"}}, want: false},
		{name: "FilterButWrongTrigger", givenType: "RequestExpired", givenActive: true, givenTriggers: []Trigger{RequestGranted}, givenFilters: map[string][]string{"integration_name": {"prod-postgres"}}, want: false},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			r, err := New([]Webhook{{Name: test.name, Active: test.givenActive, Triggers: test.givenTriggers, Filters: test.givenFilters, BodyTemplate: "{}", JSON: true}})
			if err != nil {
				t.Fatal(err)
			}
			ev := matchEvent(t, test.givenType)
			if got := r.MatchOne(test.name, ev); got != test.want {
				t.Fatalf("MatchOne = %v, want %v", got, test.want)
			}
			got := r.Match(ev)
			if want := test.want; (len(got) == 1 && got[0] == test.name) != want || len(got) > 1 {
				t.Fatalf("Match = %v, want match %v", got, want)
			}
		})
	}
}

// Ensure Renderer.Match returns names in configuration order and that
// filters on fields the event lacks never match.
func TestRenderer_Match_Order(t *testing.T) {
	hooks := []Webhook{
		{Name: "z-last-in-alpha", Active: true, Triggers: []Trigger{RequestCreated}, BodyTemplate: "x"},
		{Name: "inactive", Triggers: []Trigger{RequestCreated}, BodyTemplate: "x"},
		{Name: "a-first-in-alpha", Active: true, Triggers: Triggers(), BodyTemplate: "x"},
		{Name: "filtered-out", Active: true, Triggers: Triggers(), Filters: map[string][]string{"grantee_name": {"nobody"}}, BodyTemplate: "x"},
		{Name: "m-middle", Active: true, Triggers: []Trigger{"AccessRequestCreated"}, BodyTemplate: "x"},
	}
	r, err := New(hooks)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"z-last-in-alpha", "a-first-in-alpha", "m-middle"}
	if got := r.Match(matchEvent(t, "AccessRequestCreated")); !slices.Equal(got, want) {
		t.Fatalf("Match = %v, want %v", got, want)
	}
	bare := mustDecode(t, []byte(`{"event_type":"RequestCreated","data":{"access_groups":"not a list","approvals":[1,null,{"type":7}]}}`))
	for _, k := range ValidFilterKeys() {
		r, err := New([]Webhook{{Name: "f", Active: true, Triggers: Triggers(), Filters: map[string][]string{k: {"x"}}, BodyTemplate: "x"}})
		if err != nil {
			t.Fatal(err)
		}
		if r.MatchOne("f", bare) {
			t.Errorf("filter %s matched an event without the field", k)
		}
	}
	if r.MatchOne("nope", bare) || r.Match(nil) != nil || r.MatchOne("m-middle", nil) {
		t.Fatal("unknown webhook or nil event should not match")
	}
}

// Ensure New reports every bad webhook at once, each with its sentinel.
func TestNew_Errors(t *testing.T) {
	_, err := New([]Webhook{
		{Name: "ok", Active: true, Triggers: []Trigger{RequestCreated}, BodyTemplate: `{"a":"{{ data.id }}"}`, JSON: true},
		{Name: "bad-template", Triggers: []Trigger{RequestCreated}, BodyTemplate: "{\n  \"a\": \"{{#if data.id}}\"\n}", JSON: true},
		{Name: "bad-trigger", Triggers: []Trigger{"RequestDeleted"}, BodyTemplate: "x"},
		{Name: "bad-filter", Triggers: []Trigger{RequestCreated}, Filters: map[string][]string{"colour": {"red"}}, BodyTemplate: "x"},
		{Name: "ok", Triggers: []Trigger{RequestCreated}, BodyTemplate: "x"},
	})
	if err == nil {
		t.Fatal("New accepted bad webhooks")
	}
	for _, want := range []error{ErrTemplate, ErrUnknownTrigger, ErrUnknownFilterKey, ErrDuplicateWebhook} {
		if !errors.Is(err, want) {
			t.Errorf("err does not wrap %v: %v", want, err)
		}
	}
	var te *TemplateError
	if !errors.As(err, &te) || te.Webhook != "bad-template" || te.Line == 0 {
		t.Fatalf("TemplateError = %+v", te)
	}
	for _, s := range []string{`"bad-template"`, `"bad-trigger"`, `"bad-filter"`, `"colour"`, `"ok"`, "integration_name"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error text does not mention %s: %v", s, err)
		}
	}
}

// Ensure Renderer.Webhook returns normalized copies callers cannot corrupt.
func TestRenderer_Webhook(t *testing.T) {
	r, err := New([]Webhook{{Name: "h", Active: true, Triggers: []Trigger{"AccessRequestGranted"}, Filters: map[string][]string{"permission": {"READ_ONLY"}}, BodyTemplate: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	h, ok := r.Webhook("h")
	if !ok || !slices.Equal(h.Triggers, []Trigger{RequestGranted}) || h.Filters["permission"][0] != "READ_ONLY" {
		t.Fatalf("Webhook = %+v, %v", h, ok)
	}
	h.Triggers[0] = Manual
	h.Filters["permission"][0] = "X"
	if h2, _ := r.Webhook("h"); h2.Triggers[0] != RequestGranted || h2.Filters["permission"][0] != "READ_ONLY" {
		t.Fatal("Webhook returned shared slices")
	}
	if _, ok := r.Webhook("nope"); ok {
		t.Fatal("unknown webhook found")
	}
	if got := r.Names(); !slices.Equal(got, []string{"h"}) {
		t.Fatalf("Names = %v", got)
	}
	if got := ValidFilterKeys(); len(got) != 10 || got[0] != "integration_name" || got[9] != "approval_type" {
		t.Fatalf("ValidFilterKeys = %v", got)
	}
}
