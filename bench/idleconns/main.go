// Command idleconns opens many keep-alive connections to one HTTP/1.1 server, sends one request on
// each, reads its answer whole, and then holds every connection open and idle until stdin closes.
// bench/idle.sh uses it to measure what an idle connection costs a server.
//
//	go run ./bench/idleconns -n 10000 -addr 127.0.0.1:19160 -path /
//
// It prints "ready N" once N connections are idle (each after one answered request); a connection
// that fails or is closed by the server before then is an error.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

func main() {
	n := flag.Int("n", 10000, "connections to open")
	addr := flag.String("addr", "127.0.0.1:19160", "server address (host:port)")
	path := flag.String("path", "/", "path of the one request on each connection")
	par := flag.Int("parallel", 100, "connections opened at once")
	flag.Parse()
	conns, err := open(*n, *par, *addr, *path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "idleconns:", err)
		os.Exit(1)
	}
	fmt.Printf("ready %d\n", len(conns))
	_, _ = io.Copy(io.Discard, os.Stdin) // hold until stdin closes
	// Whether the server kept every connection open until now.
	closed := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !os.IsTimeout(err) {
			closed++
		}
		c.Close()
	}
	fmt.Printf("closed_by_server %d\n", closed)
}

// open makes n connections, par at a time, each with one answered request.
func open(n, par int, addr, path string) ([]net.Conn, error) {
	var (
		mu    sync.Mutex // guards conns and first
		conns []net.Conn
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, par)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := oneRequest(addr, path)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	if first != nil {
		for _, c := range conns {
			c.Close()
		}
		return nil, first
	}
	return conns, nil
}

func oneRequest(addr, path string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bench\r\nUser-Agent: idleconns\r\n\r\n", path); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
		c.Close()
		return nil, fmt.Errorf("answer: status %d, close %v, err %v", resp.StatusCode, resp.Close, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
