// Notices a client that went away while its answer is still being computed, before anything was written to it.
//
// Hummingbird accepts half-closed connections, and NIO's pipelining handler stops reading while a response is
// pending, so the connection stays "active" after the client's FIN. NIO still reports that FIN (EPOLLRDHUP) as
// ChannelEvent.inputClosed; this handler keeps it as a flag the route checks before every generated token — what
// Go's net/http does when it cancels a request's context on EOF. A client that half-closes on purpose and still
// waits for its answer is rare for HTTP/1.1 and is treated as gone.
import NIOCore

final class ClientGoneHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    // Passes every part through untouched; only the user event is looked at.
    typealias InboundIn = Any

    /// Set on the event loop when the client's side closes; read from the generation thread.
    let gone = CancelFlag()

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { gone.set() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        gone.set()
        context.fireChannelInactive()
    }
}
