import ArgumentParser
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The same fan-out with no protocol at all: a plain TCP relay on loopback, length-prefixed
/// messages broadcast to every connection. What this machine can do, to quote results against.
struct Baseline: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Plain loopback TCP fan-out with no protocol (for comparison).")
    @Option(help: "Members.") var n = 50
    @Option(help: "Messages per member.") var m = 20
    @Option(help: "Message size in bytes.") var size = 100
    @Option(help: "Write every figure to this JSON file.") var json: String?

    final class Relay: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let members: NIOLockedValueBox<[Channel]>
        init(_ members: NIOLockedValueBox<[Channel]>) { self.members = members }
        func channelActive(context: ChannelHandlerContext) { members.withLockedValue { $0.append(context.channel) } }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            for c in members.withLockedValue({ $0 }) { c.writeAndFlush(buffer, promise: nil) }
        }
    }

    final class Receiver: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let size: Int
        var pending = 0
        let record: (Double) -> Void
        init(size: Int, record: @escaping (Double) -> Void) { self.size = size; self.record = record }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            while buffer.readableBytes > 0 {
                if pending == 0, buffer.readableBytes >= 8 {
                    let sent = buffer.readInteger(as: UInt64.self)!
                    record(Double(nowNanos() &- sent) / 1e6)
                    pending = size - 8
                }
                let skip = min(pending, buffer.readableBytes)
                buffer.moveReaderIndex(forwardBy: skip)
                pending -= skip
                if skip == 0 { break }
            }
        }
    }

    func run() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let members = NIOLockedValueBox<[Channel]>([])
        let server = try ServerBootstrap(group: group)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { $0.pipeline.addHandler(Relay(members)) }
            .bind(host: "127.0.0.1", port: 0).wait()
        let samples = NIOLockedValueBox<[Double]>([])
        var clients: [Channel] = []
        for _ in 0..<n {
            clients.append(try ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { $0.pipeline.addHandler(Receiver(size: max(8, size)) { l in samples.withLockedValue { $0.append(l) } }) }
                .connect(host: "127.0.0.1", port: server.localAddress!.port!).wait())
        }
        try waitUntil("all connected", timeout: 30) { members.withLockedValue { $0.count } == n }
        let expected = n * m * n
        let start = nowNanos()
        for _ in 0..<m {
            for c in clients {
                var b = c.allocator.buffer(capacity: max(8, size))
                b.writeInteger(nowNanos())
                b.writeRepeatingByte(0x78, count: max(0, size - 8))
                c.writeAndFlush(b, promise: nil)
            }
        }
        try waitUntil("\(expected) deliveries", timeout: 300) { samples.withLockedValue { $0.count } >= expected }
        let seconds = Double(nowNanos() - start) / 1e9
        let latency = Percentiles(samples.withLockedValue { $0 })
        print(String(format: "baseline: %d members × %d messages of %d B over plain TCP: %.0f deliveries/s; latency %@",
                     n, m, size, Double(expected) / seconds, latency.text))
        if let json {
            let figures: [String: Any] = ["mode": "baseline", "n": n, "m": m, "size": size, "deliveries_per_second": Double(expected) / seconds,
                                          "latency_ms": ["p50": latency.p50, "p99": latency.p99, "max": latency.max]]
            try JSONSerialization.data(withJSONObject: figures, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
        }
        for c in clients { try? c.close().wait() }
        try? server.close().wait()
        try? group.syncShutdownGracefully()
        print(String(format: "summary: baseline n=%d m=%d size=%d deliveries/s=%.0f p50=%.2fms p99=%.2fms", n, m, size, Double(expected) / seconds, latency.p50, latency.p99))
    }
}
