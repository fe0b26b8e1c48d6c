package renderer

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"
)

// sampleBaseTime is the event_time of sample 0: 2024-11-24T00:00:00Z.
const sampleBaseTime = 1732406400

// samplePayload mirrors the Apono webhook payload, in its documented field order.
type samplePayload struct {
	EventType string      `json:"event_type"`
	EventTime json.Number `json:"event_time"`
	Data      sampleData  `json:"data"`
}

type sampleData struct {
	ID                       string            `json:"id"`
	FriendlyID               string            `json:"friendly_id"`
	Requester                sampleUser        `json:"requester"`
	Grantee                  sampleGrantee     `json:"grantee"`
	Justification            string            `json:"justification"`
	CreationDate             string            `json:"creation_date"`
	RevocationDate           string            `json:"revocation_date"`
	AccessFlow               sampleRef         `json:"access_flow"`
	AccessBundle             sampleRef         `json:"access_bundle"`
	AccessDurationInSeconds  int               `json:"access_duration_in_seconds"`
	AccessGroups             []sampleGroup     `json:"access_groups"`
	ApprovalsLogicalRelation string            `json:"approvals_logical_relation"`
	Approvals                []sampleApproval  `json:"approvals"`
	CustomFields             map[string]string `json:"custom_fields"`
}

type sampleUser struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

type sampleGrantee struct {
	ID       string `json:"id"`
	SourceID string `json:"source_id"`
	Name     string `json:"name"`
	Type     string `json:"type"`
}

type sampleRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type sampleType struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayPath string `json:"display_path"`
}

type sampleIntegration struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Name string `json:"name"`
}

type sampleResource struct {
	ID   string     `json:"id"`
	Name string     `json:"name"`
	Path string     `json:"path"`
	Type sampleType `json:"type"`
}

type sampleUnit struct {
	Resource   sampleResource `json:"resource"`
	Permission sampleRef      `json:"permission"`
}

type sampleGroup struct {
	Integration   sampleIntegration `json:"integration"`
	ResourceTypes []sampleType      `json:"resource_types"`
	AccessUnits   []sampleUnit      `json:"access_units"`
}

type sampleApproval struct {
	Name     string     `json:"name"`
	Type     string     `json:"type"`
	Status   string     `json:"status"`
	Approver sampleUser `json:"approver"`
}

// sampleIntegrations are the integrations samples cycle through.
var sampleIntegrations = [...]struct {
	name, typ, resType, resTypeName, resource, path, permission string
}{
	{"prod-postgres", "postgresql", "postgresql-database", "Database", "billing", "prod-postgres/billing", "READ_ONLY"},
	{"prod-mysql", "mysql", "mysql-table", "Table", "orders", "prod-mysql/shop/orders", "READ_WRITE"},
	{"aws-prod", "aws-account", "aws-s3-bucket", "S3 Bucket", "acme-invoices", "aws-prod/us-east-1/acme-invoices", "AmazonS3ReadOnlyAccess"},
	{"k8s-prod", "kubernetes", "kubernetes-namespace", "Namespace", "payments", "k8s-prod/payments", "view"},
}

// samplePeople are the requesters samples cycle through.
var samplePeople = [...]sampleUser{
	{Name: "Ada Lovelace", Email: "ada.lovelace@example.com"},
	{Name: "Grace Hopper", Email: "grace.hopper@example.com"},
	{Name: "Alan Turing", Email: "alan.turing@example.com"},
}

// Sample returns a realistic Apono payload (about 1 KB) for trigger t. The
// payload is deterministic for (t, n) and different for each n, so a run of
// samples gets distinct ids, friendly ids and times.
func Sample(t Trigger, n int) []byte {
	if !t.Valid() {
		t = RequestCreated
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", t, n)
	sum := h.Sum64()
	uuid := func(salt uint64) string {
		x := sum ^ (salt * 0x9E3779B97F4A7C15)
		y := x*0xBF58476D1CE4E5B9 + salt
		return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", uint32(x>>32), uint16(x>>16), uint16(x)&0xfff, uint16(y>>48)&0xfff, y&0xffffffffffff)
	}

	in := sampleIntegrations[uint(n)%uint(len(sampleIntegrations))]
	who := samplePeople[uint(n)%uint(len(samplePeople))]
	who.ID = uuid(1)
	approver := samplePeople[uint(n+1)%uint(len(samplePeople))]
	approver.ID = uuid(2)

	secs := int64(sampleBaseTime) + int64(n)*37
	micros := (int64(n)*123457 + 123456) % 1000000
	created := time.Unix(secs-60, 0).UTC()
	duration := 3600 * (1 + n%8)

	approvalType, approvalStatus := "manual", "approved"
	if n%2 == 1 {
		approvalType = "automatic"
	}
	revocation := ""
	switch t {
	case RequestCreated, Manual:
		approvalStatus = "pending"
	case RequestRejected:
		approvalStatus = "rejected"
	case RequestGranted, RequestExpired:
		revocation = created.Add(time.Duration(duration) * time.Second).Format(time.RFC3339)
	}

	p := samplePayload{
		EventType: string(t),
		EventTime: json.Number(fmt.Sprintf("%d.%06d", secs, micros)),
		Data: sampleData{
			ID:                      uuid(3),
			FriendlyID:              fmt.Sprintf("APONO-%d", 1000+n),
			Requester:               who,
			Grantee:                 sampleGrantee{ID: who.ID, SourceID: fmt.Sprintf("00u%013x", sum&0xfffffffffffff), Name: who.Name, Type: "user"},
			Justification:           fmt.Sprintf("Investigating incident INC-%d on %s", 4200+n, in.resource),
			CreationDate:            created.Format(time.RFC3339),
			RevocationDate:          revocation,
			AccessFlow:              sampleRef{ID: uuid(4), Name: "Production on-call access"},
			AccessBundle:            sampleRef{ID: uuid(5), Name: "prod-readonly"},
			AccessDurationInSeconds: duration,
			AccessGroups: []sampleGroup{{
				Integration:   sampleIntegration{ID: uuid(6), Type: in.typ, Name: in.name},
				ResourceTypes: []sampleType{{ID: in.resType, Name: in.resTypeName, DisplayPath: in.name + "/" + in.resTypeName}},
				AccessUnits: []sampleUnit{{
					Resource:   sampleResource{ID: uuid(7), Name: in.resource, Path: in.path, Type: sampleType{ID: in.resType, Name: in.resTypeName, DisplayPath: in.name + "/" + in.resTypeName}},
					Permission: sampleRef{ID: in.permission, Name: in.permission},
				}},
			}},
			ApprovalsLogicalRelation: "OR",
			Approvals:                []sampleApproval{{Name: "On-call approver", Type: approvalType, Status: approvalStatus, Approver: approver}},
			CustomFields:             map[string]string{"ticket": fmt.Sprintf("INC-%d", 4200+n)},
		},
	}
	// Every field is a plain string, number or string map: Marshal cannot fail.
	b, _ := json.Marshal(p)
	return b
}
