import Dispatch
import Foundation

/// SIGINT and SIGTERM, caught from the moment this is made: before the banner says the
/// server is ready, so a signal sent right after it (a supervisor, a script, Ctrl-C) still
/// shuts down cleanly instead of killing the process.
final class TerminationSignals: @unchecked Sendable {
    private let queue = DispatchQueue(label: "sotto.signals")
    private var sources: [DispatchSourceSignal] = []
    // On `queue` only.
    private var received = false
    private var waiter: CheckedContinuation<Void, Never>?

    init() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)  // the dispatch source handles it, not the default action
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { [weak self] in self?.arrived() }
            source.resume()
            sources.append(source)
        }
    }

    private func arrived() {
        guard !received else { return }
        received = true
        waiter?.resume()
        waiter = nil
    }

    /// Returns once either signal has arrived (at once if one already has).
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                if self.received { continuation.resume() } else { self.waiter = continuation }
            }
        }
    }
}
