package acmetest

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// LookupIP asks challtestsrv's DNS server, over TCP as pebble does, for host's addresses, and
// returns them in the order pebble tries them: IPv6 (AAAA) answers first, then IPv4 (A)
// answers; pebble connects to the first. It returns none if challtestsrv has none.
func (ca *CA) LookupIP(t testing.TB, host string) []netip.Addr {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var addrs []netip.Addr
	for _, qtype := range []dnsmessage.Type{dnsmessage.TypeAAAA, dnsmessage.TypeA} {
		answers, err := lookup(ctx, "tcp", ca.DNSAddr, host, qtype)
		if err != nil {
			t.Fatalf("acmetest: %v", err)
		}
		addrs = append(addrs, answers...)
	}
	return addrs
}

// lookup sends one query for host's records of type qtype (A or AAAA) to the DNS server at addr
// over network ("udp" or "tcp"), and returns the addresses in the answer. It does not use the
// system's resolver, which /etc/nsswitch.conf may forbid to ask DNS at all.
func lookup(ctx context.Context, network, addr, host string, qtype dnsmessage.Type) ([]netip.Addr, error) {
	name, err := dnsmessage.NewName(dnsFQDN(host))
	if err != nil {
		return nil, fmt.Errorf("DNS name %q: %w", host, err)
	}
	query := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: uint16(rand.Uint32()), RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: name, Type: qtype, Class: dnsmessage.ClassINET}},
	}
	packed, err := query.Pack()
	if err != nil {
		return nil, fmt.Errorf("packing a DNS query for %s: %w", host, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("DNS over %s: %w", network, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return nil, fmt.Errorf("DNS over %s: %w", network, err)
		}
	}

	var answer []byte
	if network == "tcp" {
		// Over TCP each message is preceded by its length (RFC 1035, 4.2.2).
		if _, err := conn.Write(binary.BigEndian.AppendUint16(nil, uint16(len(packed)))); err != nil {
			return nil, fmt.Errorf("DNS over tcp: %w", err)
		}
	}
	if _, err := conn.Write(packed); err != nil {
		return nil, fmt.Errorf("DNS over %s: %w", network, err)
	}
	if network == "tcp" {
		var size [2]byte
		if _, err := io.ReadFull(conn, size[:]); err != nil {
			return nil, fmt.Errorf("DNS over tcp: reading the answer: %w", err)
		}
		answer = make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(conn, answer); err != nil {
			return nil, fmt.Errorf("DNS over tcp: reading the answer: %w", err)
		}
	} else {
		answer = make([]byte, 65535)
		n, err := conn.Read(answer)
		if err != nil {
			return nil, fmt.Errorf("DNS over %s: reading the answer: %w", network, err)
		}
		answer = answer[:n]
	}

	var m dnsmessage.Message
	if err := m.Unpack(answer); err != nil {
		return nil, fmt.Errorf("DNS over %s: unpacking the answer: %w", network, err)
	}
	if m.ID != query.ID || !m.Response {
		return nil, fmt.Errorf("DNS over %s: answer does not match the query", network)
	}
	if m.RCode != dnsmessage.RCodeSuccess {
		return nil, fmt.Errorf("DNS over %s: %s %s: %v", network, host, qtype, m.RCode)
	}
	var addrs []netip.Addr
	for _, rr := range m.Answers {
		switch body := rr.Body.(type) {
		case *dnsmessage.AResource:
			addrs = append(addrs, netip.AddrFrom4(body.A))
		case *dnsmessage.AAAAResource:
			addrs = append(addrs, netip.AddrFrom16(body.AAAA))
		}
	}
	return addrs, nil
}

// dnsFQDN returns host with the trailing dot of a fully qualified name.
func dnsFQDN(host string) string {
	if host != "" && host[len(host)-1] == '.' {
		return host
	}
	return host + "."
}
