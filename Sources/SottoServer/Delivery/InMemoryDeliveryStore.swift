import NIOConcurrencyHelpers
import SottoCore

/// The delivery log kept for the life of the process: tests, fuzzing and `InMemoryServer`.
public final class InMemoryDeliveryStore: DeliveryStore, @unchecked Sendable {
    private let lock = NIOLock()
    private var log: [StoredDelivery] = []
    private var positions: [String: UInt64] = [:]
    private var dropped: [String: UInt64] = [:]
    private var directory: [String: DirectoryEntry] = [:]
    private var sent: [MessageLedger.Identity: (sender: [UInt8], epochs: [UInt32: UInt32])] = [:]
    private let log16 = (0..<16).map { _ in UInt8.random(in: 0...255) }
    private var highest: UInt64 = 0

    public init() {}

    private struct Pair: Hashable { var recipient: String; var sender: [UInt8] }

    public func startup() throws -> DeliveryStartup {
        lock.withLock {
            var waiting: [Pair: (bytes: Int64, newest: UInt64)] = [:]
            for d in log {
                guard let recipient = d.recipient, let sender = d.sender, d.position > positions[recipient] ?? 0 else { continue }
                let pair = Pair(recipient: recipient, sender: sender), before = waiting[pair] ?? (0, 0)
                waiting[pair] = (before.bytes + Int64(d.record.count), max(before.newest, d.position))
            }
            return DeliveryStartup(log: log16, lastPosition: highest, directory: Array(directory.values),
                                   sent: sent.values.flatMap { entry in entry.epochs.map { (entry.sender, $0.key, $0.value) } },
                                   waitingDirect: waiting.map { ($0.key.recipient, $0.key.sender, $0.value.bytes, $0.value.newest) })
        }
    }

    public func commit(_ batch: DeliveryBatch) throws {
        lock.withLock {
            log += batch.deliveries
            highest = max(highest, batch.deliveries.last?.position ?? 0)
            for d in batch.deliveries {
                guard let sender = d.sender, let id = d.clientMessageID else { continue }
                let (epoch, counter) = MessageLedger.split(id)
                let identity = MessageLedger.Identity(sender)
                var entry = sent[identity] ?? (sender, [:])
                entry.epochs[epoch] = max(entry.epochs[epoch] ?? 0, counter)
                sent[identity] = entry
            }
            for (member, position) in batch.positions {
                positions[member] = max(positions[member] ?? 0, position)
                log.removeAll { $0.recipient == member && $0.position <= position }
            }
            for member in batch.droppedReported { dropped[member] = nil }
            for entry in batch.entries { directory[entry.key] = entry }
            for member in batch.released {
                log.removeAll { $0.recipient == member }
                positions[member] = nil
                dropped[member] = nil
                directory[member] = nil
            }
        }
    }

    public func stream(of member: String) throws -> (position: UInt64?, dropped: UInt64) {
        lock.withLock { (positions[member], dropped[member] ?? 0) }
    }

    public func pending(for member: String, after: UInt64, through: UInt64, limit: Int, maxBytes: Int) throws -> DeliveryPage {
        lock.withLock {
            DeliveryPage.take(log.lazy.filter { $0.position > after && $0.position <= through && ($0.recipient == nil || $0.recipient == member) },
                              limit: limit, maxBytes: maxBytes)
        }
    }

    public func confirmedPositions() throws -> [String: UInt64] { lock.withLock { positions } }

    public func prune(now: UInt64, retention: Retention) throws {
        lock.withLock {
            let age = UInt64(max(0, min(retention.maxAge * 1000, 1e18)))
            let horizon = now > age ? now - age : 0
            var cut = log.last(where: { $0.time < horizon })?.position ?? 0
            var total = log.reduce(0) { $0 + $1.record.count }
            for d in log where total > retention.maxTotalBytes {
                total -= d.record.count
                cut = max(cut, d.position)
            }
            if cut > 0 {
                for (member, position) in positions where position < cut {
                    let lost = log.lazy.filter { $0.position > position && $0.position <= cut && $0.clientMessageID != nil && ($0.recipient == nil || $0.recipient == member) }.count
                    dropped[member, default: 0] += UInt64(lost)
                    positions[member] = cut
                }
            }
            // Per member: past their bound, their oldest entries are given up.
            for (member, position) in positions {
                let theirs = log.filter { $0.position > position && ($0.recipient == nil || $0.recipient == member) }
                var bytes = theirs.reduce(0) { $0 + $1.record.count }
                var start = position
                for entry in theirs where bytes > retention.maxBytesPerMember {
                    bytes -= entry.record.count
                    start = entry.position
                    if entry.clientMessageID != nil { dropped[member, default: 0] += 1 }
                }
                positions[member] = start
            }
            let everyone = positions.values.min() ?? 0
            log.removeAll { $0.position <= max(cut, everyone) }
        }
    }
}
