package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/konsil/konsil/protocol"
)

// moveAppointment gives a scheduled appointment and its room another
// window; the body is the window as at creation ({"day","time_zone"} or
// {"start","time_zone"}).
func (s *Server) moveAppointment(c *gin.Context) {
	req, ok := decoded[protocol.WindowRequest](s, c)
	if !ok {
		return
	}
	a, err := s.cfg.Practice.MoveAppointment(c.Request.Context(), sessionOf(c), c.Param("id"), req)
	if err != nil {
		s.fail(c, err)
		return
	}
	// Whoever is connected or waiting got in under the old window, and
	// their sessions end with it: they leave now and come back through
	// their links in the new window.
	s.cfg.Hub.CloseRoom(a.RoomID, protocol.CodeRoomClosed)
	// The open workspaces get the room's (now empty) lobby.
	s.RoomChanged(a.RoomID)
	c.JSON(http.StatusOK, a)
}
