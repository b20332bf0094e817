package testutil

import "testing"

func TestStartRedisAnswersAndStops(t *testing.T) {
	r := StartRedis(t)
	if err := ping(r.Addr); err != nil {
		t.Fatalf("PING a started redis-server: %v", err)
	}
	if r.URL != "redis://"+r.Addr+"/0" {
		t.Errorf("URL = %q", r.URL)
	}
	r.Stop()
	if err := ping(r.Addr); err == nil {
		t.Fatal("redis-server still answers after Stop")
	}
	r.Stop() // a second Stop, and the one in Cleanup, do nothing
}
