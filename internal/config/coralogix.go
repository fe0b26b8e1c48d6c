package config

// CoralogixRegions returns the accepted region names, in a fixed order.
func CoralogixRegions() []string {
	return []string{"us1", "us2", "us3", "eu1", "eu2", "ap1", "ap2", "ap3", "gov1"}
}

// CoralogixIngressHost returns the ingestion host of a region, e.g.
// "us1" → "ingress.us1.coralogix.com", "gov1" → "ingress.gov1.coralogixgov.us".
func CoralogixIngressHost(region string) (string, bool) {
	switch region {
	case "us1", "us2", "us3", "eu1", "eu2", "ap1", "ap2", "ap3":
		return "ingress." + region + ".coralogix.com", true
	case "gov1":
		return "ingress.gov1.coralogixgov.us", true
	}
	return "", false
}

// CoralogixSeverity returns the numeric Coralogix severity of a severity
// name: debug 1, verbose 2, info 3, warning 4, error 5, critical 6.
func CoralogixSeverity(name string) (int, bool) {
	for i, s := range coralogixSeverities {
		if s == name {
			return i + 1, true
		}
	}
	return 0, false
}

// BaseURL returns the ingestion base URL without a trailing slash: the
// endpoint when set, else https://ingress.<domain> of the region ("" for
// an unknown region).
func (c Coralogix) BaseURL() string {
	if c.Endpoint != "" {
		for len(c.Endpoint) > 0 && c.Endpoint[len(c.Endpoint)-1] == '/' {
			c.Endpoint = c.Endpoint[:len(c.Endpoint)-1]
		}
		return c.Endpoint
	}
	h, ok := CoralogixIngressHost(c.Region)
	if !ok {
		return ""
	}
	return "https://" + h
}
