package objectstore

import (
	"net/netip"
	"testing"
)

func TestPublicAddress(t *testing.T) {
	for _, tt := range []struct {
		addr   string
		public bool
	}{
		{"93.184.216.34", true}, {"2606:4700::1111", true}, {"8.8.8.8", true},
		{"127.0.0.1", false}, {"::1", false}, {"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"fd00:ec2::254", false}, {"fe80::1", false}, {"100.64.0.1", false},
		{"0.0.0.0", false}, {"::", false}, {"224.0.0.1", false}, {"255.255.255.255", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:169.254.169.254", false}, {"::ffff:8.8.8.8", true},
	} {
		if got := publicAddress(netip.MustParseAddr(tt.addr)); got != tt.public {
			t.Errorf("publicAddress(%s) = %v, want %v", tt.addr, got, tt.public)
		}
	}
}
