import FlotillaEngine
import Foundation

/// `status ROLLOUT --watch` on a terminal (the live view) and with `--output json` (the journal's changes as events).
enum StatusWatch {
    /// Redraws the live view every `interval` until the rollout ends; false when there is no such rollout.
    static func live(_ rollout: String, store: ControlStore, interval: Duration, color: Bool) async throws -> Bool {
        var meter = ProgressMeter()
        var drawn = 0
        while true {
            guard let record = try await store.rollout(id: rollout) else { return false }
            guard let reading = await RolloutConsole.progress(rollout, store: store, baking: nil, meter: meter) else {
                return false
            }
            meter = reading.meter ?? meter
            let lines = reading.view.render(width: RolloutConsole.columns(), color: color)
            var out = drawn > 0 ? "\u{1B}[\(drawn)A\r\u{1B}[J" : ""
            for line in lines { out += line + "\n" }
            drawn = lines.count
            FileHandle.standardOutput.write(Data(out.utf8))
            if record.state.isFinished { return true }
            try await Task.sleep(for: interval)
        }
    }

    /// Writes the events between readings of the journal every `interval` until the rollout ends; false when there
    /// is no such rollout.
    static func stream(_ rollout: String, store: ControlStore, interval: Duration) async throws -> Bool {
        var context = EventStream.Context(kind: "rollout")
        var previous: JournalSnapshot?
        while true {
            guard let snapshot = try await JournalSnapshot.read(rollout, store: store) else { return previous != nil }
            snapshot.context(&context)
            context.kind = snapshot.record.kind.rawValue
            var text = ""
            for event in snapshot.events(since: previous) {
                for line in EventStream.lines(for: event, context: &context) { text += line + "\n" }
            }
            if !text.isEmpty { FileHandle.standardOutput.write(Data(text.utf8)) }
            previous = snapshot
            if snapshot.record.state.isFinished { return true }
            try await Task.sleep(for: interval)
        }
    }
}
