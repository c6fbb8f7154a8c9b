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
    @Option(help: "Messages per second per member (0: as fast as possible), spread as in fanout.") var rate = 0.0
    @Option(help: "Write every figure to this JSON file.") var json: String?
    @Option(help: "Relay threads.") var serverThreads = 1
    @Flag(help: "Pin the relay to the last CPU and the members to the others (as fanout --pin).") var pin = false
    @Flag(help: .hidden) var serve = false

    final class Relay: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let members: NIOLockedValueBox<[Channel]>
        init(_ members: NIOLockedValueBox<[Channel]>) { self.members = members }
        func channelActive(context: ChannelHandlerContext) { members.withLockedValue { $0.append(context.channel) } }
        /// Whole messages are written as they are read and flushed once per read, so a busy
        /// relay makes one syscall per member per read, as Sotto's server does per loop turn.
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            for c in members.withLockedValue({ $0 }) { c.write(buffer, promise: nil) }
        }
        func channelReadComplete(context: ChannelHandlerContext) {
            for c in members.withLockedValue({ $0 }) { c.flush() }
        }
    }

    /// Cuts the relay's input into whole messages, so members' streams never interleave
    /// mid-message (a read can end anywhere).
    struct WholeMessages: ByteToMessageDecoder {
        typealias InboundOut = ByteBuffer
        let size: Int
        mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
            guard let message = buffer.readSlice(length: size) else { return .needMoreData }
            context.fireChannelRead(wrapInboundOut(message))
            return .continue
        }
    }

    final class Receiver: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let size: Int
        var pending = 0
        let record: (Double) -> Void
        init(size: Int, record: @escaping (Double) -> Void) { self.size = size; self.record = record }
        /// Bytes of a timestamp split across reads wait here for the rest.
        var carry: [UInt8] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            while buffer.readableBytes > 0 {
                if pending == 0 {
                    let need = 8 - carry.count
                    let take = min(need, buffer.readableBytes)
                    carry += buffer.readBytes(length: take)!
                    guard carry.count == 8 else { return }
                    let sent = carry.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    carry.removeAll(keepingCapacity: true)
                    record(Double(nowNanos() &- sent) / 1e6)
                    pending = size - 8
                }
                let skip = min(pending, buffer.readableBytes)
                buffer.moveReaderIndex(forwardBy: skip)
                pending -= skip
            }
        }
    }

    /// The relay, in a process of its own so its CPU time can be read like the server's.
    func serveForever() throws -> Never {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: serverThreads)
        let members = NIOLockedValueBox<[Channel]>([])
        let server = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [size] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([ByteToMessageHandler(WholeMessages(size: max(8, size))), Relay(members)])
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        print("port \(server.localAddress!.port!)")
        fflush(stdout)
        while true { sleep(3600) }
    }

    func run() throws {
        if serve { try serveForever() }
        raiseFileLimit()
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        let relay = Process()
        let arguments = ["baseline", "--serve", "--server-threads", "\(serverThreads)", "--size", "\(size)"]
        if pin {
            let cpus = ProcessInfo.processInfo.activeProcessorCount
            guard cpus >= 2 else { throw BenchError("--pin needs at least two CPUs") }
            relay.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
            relay.arguments = ["-c", "\(cpus - 1)", exe] + arguments
            try pinSelf(to: cpus == 2 ? "0" : "0-\(cpus - 2)")
        } else {
            relay.executableURL = URL(fileURLWithPath: exe)
            relay.arguments = arguments
        }
        let out = Pipe()
        relay.standardOutput = out
        try relay.run()
        defer {  // SIGKILL: an inherited "ignore SIGTERM" must not leave the relay behind
            kill(relay.processIdentifier, SIGKILL)
            relay.waitUntilExit()
        }
        var banner = ""
        while !banner.contains("\n") { banner += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self) }
        guard let port = Int(banner.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") else {
            throw BenchError("the relay did not start: \(banner)")
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let samples = NIOLockedValueBox<[Double]>([])
        var clients: [Channel] = []
        for _ in 0..<n {
            clients.append(try ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { $0.pipeline.addHandler(Receiver(size: max(8, size)) { l in samples.withLockedValue { $0.append(l) } }) }
                .connect(host: "127.0.0.1", port: port).wait())
        }
        Thread.sleep(forTimeInterval: 0.5)  // the relay registers every member
        let expected = n * m * n  // every member, the sender included, gets every message
        let cpu0 = cpuSeconds(of: relay.processIdentifier)
        let stolen0 = stolenSeconds()
        let start = nowNanos()
        func send(_ c: Channel) {
            var b = c.allocator.buffer(capacity: max(8, size))
            b.writeInteger(nowNanos())
            b.writeRepeatingByte(0x78, count: max(0, size - 8))
            c.writeAndFlush(b, promise: nil)
        }
        for k in 0..<m {
            for (i, c) in clients.enumerated() {
                if rate > 0 {
                    sleep(until: spreadDue(start: start, tick: k, member: i, of: n, rate: rate))
                }
                send(c)
            }
        }
        try waitUntil("\(expected) deliveries", timeout: 300) { samples.withLockedValue { $0.count } >= expected }
        let seconds = Double(nowNanos() - start) / 1e9
        let cpu = (cpuSeconds(of: relay.processIdentifier) ?? 0) - (cpu0 ?? 0)
        let stolenMs = ((stolenSeconds() ?? 0) - (stolen0 ?? 0)) * 1000
        let perDelivery = cpu / Double(expected) * 1e6
        let latency = Percentiles(samples.withLockedValue { $0 })
        print(String(format: "baseline: %d members × %d messages of %d B over plain TCP (rate %g): %.0f deliveries/s; latency %@; relay CPU %.2f µs per delivery; %.0f ms of CPU stolen by the hypervisor",
                     n, m, size, rate, Double(expected) / seconds, latency.text, perDelivery, stolenMs))
        if let json {
            let figures: [String: Any] = ["mode": "baseline", "n": n, "m": m, "size": size, "rate": rate,
                                          "deliveries_per_second": Double(expected) / seconds,
                                          "latency_ms": ["p50": latency.p50, "p99": latency.p99, "max": latency.max],
                                          "relay_cpu_us_per_delivery": perDelivery, "stolen_ms": stolenMs]
            try JSONSerialization.data(withJSONObject: figures, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
        }
        for c in clients { try? c.close().wait() }
        try? group.syncShutdownGracefully()
        print(String(format: "summary: baseline n=%d m=%d size=%d rate=%g deliveries/s=%.0f p50=%.2fms p99=%.2fms cpu/delivery=%.2fus stolen=%.0fms",
                     n, m, size, rate, Double(expected) / seconds, latency.p50, latency.p99, perDelivery, stolenMs))
    }
}
