package p2ptest

import (
	"testing"
)

func TestEdges(t *testing.T) {
	for _, tc := range []struct {
		n    int
		top  Topology
		want int
	}{
		{10, FullMesh, 45}, {10, Ring, 10}, {10, Star, 9}, {2, Ring, 1}, {1, FullMesh, 0}, {5, None, 0},
	} {
		if got := len(Edges(tc.n, tc.top)); got != tc.want {
			t.Errorf("Edges(%d, %v) = %d edges, want %d", tc.n, tc.top, got, tc.want)
		}
	}
}

func TestNewHostsTopologies(t *testing.T) {
	for _, tc := range []struct {
		name string
		top  Topology
	}{{"mesh", FullMesh}, {"ring", Ring}, {"star", Star}} {
		t.Run(tc.name, func(t *testing.T) {
			hosts := NewHosts(t, 10, WithTopology(tc.top))
			for _, e := range Edges(10, tc.top) {
				if len(hosts[e[0]].Network().ConnsToPeer(hosts[e[1]].ID())) == 0 {
					t.Fatalf("host %d not connected to %d", e[0], e[1])
				}
			}
		})
	}
}
