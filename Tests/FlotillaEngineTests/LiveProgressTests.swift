import Foundation
import Testing

@testable import FlotillaEngine

/// The live terminal view, without a terminal: its lines from journal rows, the bar's arithmetic, 80 columns,
/// `NO_COLOR`, the halt line, and control characters in names.
struct LiveProgressTests {
    static let escape = "\u{1B}"

    /// A line's width as the terminal counts it: SGR colour sequences take no column.
    static func columns(_ line: String) -> Int {
        line.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression).count
    }

    static func record(id: String = "r1", fleet: String = "acme", phase: String? = "expand")
        -> ControlStore
        .RolloutRecord
    {
        ControlStore.RolloutRecord(
            id: id, fleet: fleet, change: "0001_add", policy: "p", state: .running, currentPhase: phase,
            currentWave: nil, reason: nil, approvedPhases: [], createdAt: Date(), updatedAt: Date())
    }

    static func step(_ phase: String, _ wave: String, _ tenant: String, _ state: StepState) -> ControlStore.StepRecord {
        ControlStore.StepRecord(
            phase: phase, wave: wave, tenant: tenant, shard: "s1", state: state, attempts: 1, sqlState: nil, error: nil,
            checkpoint: nil, durationMilliseconds: nil)
    }

    @Test func barCellsAddUpToTheWidthInOrder() {
        #expect(LiveProgress.bar(counts: [3, 1, 1, 0], total: 10, width: 20) == [6, 2, 2, 0])
        #expect(LiveProgress.bar(counts: [10, 0, 0, 0], total: 10, width: 20) == [20, 0, 0, 0])
        #expect(LiveProgress.bar(counts: [0, 0, 0, 0], total: 10, width: 20) == [0, 0, 0, 0])
        #expect(LiveProgress.bar(counts: [1, 1, 1], total: 3, width: 10) == [3, 4, 3])
        #expect(LiveProgress.bar(counts: [5], total: 0, width: 10) == [0])
        // Counts above the total (a journal read mid-change) never overflow the bar.
        #expect(LiveProgress.bar(counts: [8, 8], total: 10, width: 10).reduce(0, +) == 10)
        for total in 1...40 {
            for done in 0...total {
                let cells = LiveProgress.bar(counts: [done, total - done], total: total, width: 20)
                #expect(cells.reduce(0, +) == 20)
                #expect(cells.allSatisfy { $0 >= 0 })
            }
        }
    }

    @Test func makeCountsTheCurrentPhasesWavesByState() {
        let steps = [
            Self.step("expand", "canary", "t1", .applied), Self.step("expand", "canary", "t2", .failed),
            Self.step("expand", "rest", "t3", .running), Self.step("expand", "rest", "t4", .quarantined),
            Self.step("expand", "rest", "t5", .pending), Self.step("contract", "canary", "t1", .pending),
        ]
        let view = LiveProgress.make(record: Self.record(), steps: steps)
        #expect(view.phase == "expand")
        #expect(view.phaseNumber == 1)
        #expect(view.phaseCount == 2)
        #expect(
            view.waves == [
                LiveProgress.Wave(name: "canary", total: 2, done: 1, failed: 1),
                LiveProgress.Wave(name: "rest", total: 3, running: 1, quarantined: 1),
            ])
        #expect(view.remaining == 2)
        let lines = view.render(width: 80, color: false)
        #expect(lines.contains { $0.contains("canary") && $0.contains("[##########xxxxxxxxxx]") && $0.contains("1/2") })
        #expect(lines.contains { $0.contains("rest") && $0.contains("1 running") && $0.contains("1 quarantined") })
    }

    @Test func rateAndETAFromTheMeter() {
        var meter = ProgressMeter(window: 10)
        let start = Date(timeIntervalSince1970: 1_000)
        meter.record(0, at: start)
        #expect(meter.rate == nil)
        meter.record(10, at: start.addingTimeInterval(2))
        #expect(meter.rate == 5)
        var view = LiveProgress(
            rollout: "r1", title: "rollout r1", state: "running", phase: "expand",
            waves: [LiveProgress.Wave(name: "rest", total: 40, done: 10)], rate: meter.rate)
        #expect(view.etaSeconds == 6)
        #expect(view.render(color: false).contains { $0.contains("5.0/s") && $0.contains("ETA 0:06") })
        // A new phase (fewer finished than before) starts the meter over.
        meter.record(1, at: start.addingTimeInterval(3))
        #expect(meter.rate == nil)
        view.rate = nil
        #expect(view.etaSeconds == nil)
    }

    @Test func everyLineFitsEightyColumnsWithOrWithoutColour() {
        let long = String(repeating: "w", count: 120)
        let view = LiveProgress(
            rollout: "r1", title: "rollout r1 · " + long, state: "running", phase: long, phaseNumber: 1,
            phaseCount: 3,
            waves: [
                LiveProgress.Wave(name: long, total: 1000, done: 400, running: 8, failed: 12, quarantined: 3),
                LiveProgress.Wave(name: "rest", total: 9, done: 9),
            ],
            checks: [LiveProgress.CheckLine(check: long, verdict: "fail", detail: long)],
            baking: (wave: "rest", until: Date().addingTimeInterval(90)), halt: "halted by ops: " + long,
            rate: 12.5)
        for color in [true, false] {
            let lines = view.render(width: 80, color: color)
            #expect(lines.count == 6)
            for line in lines { #expect(Self.columns(line) <= 80, "\(line)") }
        }
        // Narrower terminals too.
        for line in view.render(width: 40, color: false) { #expect(line.count <= 40, "\(line)") }
    }

    @Test func noColorMeansNoEscapeSequenceAndTheHaltLineIsRedOtherwise() throws {
        let view = LiveProgress(
            rollout: "r1", title: "rollout r1", state: "running", phase: "expand",
            waves: [LiveProgress.Wave(name: "canary", total: 4, done: 1, running: 1, failed: 1, quarantined: 1)],
            checks: [LiveProgress.CheckLine(check: "errors", verdict: "pass", detail: "t1: 0")],
            halt: "halted (fleet acme) by ops: bad deploy")
        let plain = view.render(color: false)
        #expect(!plain.joined().contains(Self.escape))
        #expect(plain[0] == "HALT halted (fleet acme) by ops: bad deploy")
        #expect(plain.contains { $0.contains("[#####>>>>>xxxxxqqqqq]") })
        let coloured = view.render(color: true)
        #expect(coloured[0].hasPrefix("\u{1B}[31mHALT "))
        #expect(coloured.joined().contains("\u{1B}[32m#####\u{1B}[0m"))
        #expect(coloured.joined().contains("\u{1B}[32mpass\u{1B}[0m"))
    }

    @Test func controlCharactersInStoredNamesAreShownNotSent() {
        let view = LiveProgress(
            rollout: "r1", title: "rollout r1", state: "running", phase: "ex\u{1B}[2Jpand",
            waves: [LiveProgress.Wave(name: "w\u{7}", total: 1)],
            checks: [LiveProgress.CheckLine(check: "c\u{9B}1", verdict: "fail", detail: "boom\u{1B}[H\nnext")],
            halt: "by \u{1B}]0;title\u{7}")
        let lines = view.render(width: 200, color: false)
        #expect(!lines.joined().unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        #expect(lines.joined().contains(#"ex\x1b[2Jpand"#))
        #expect(lines.joined().contains(#"boom\x1b[H\x0anext"#))
        #expect(lines.joined().contains(#"c\x9b1"#))
    }

    @Test func checksShowEachChecksNewestWord() {
        let old = Date(timeIntervalSince1970: 1_000)
        let new = old.addingTimeInterval(5)
        func measurement(_ verdict: CheckMeasurement.Verdict, at: Date) -> ControlStore.MeasurementRecord {
            ControlStore.MeasurementRecord(
                phase: "expand", wave: "canary",
                measurement: CheckMeasurement(
                    check: "errors", kind: "sql", scope: "tenant", target: "t1", verdict: verdict, value: "1",
                    detail: verdict.rawValue + "ed", milliseconds: 2, at: at))
        }
        let view = LiveProgress.make(
            record: Self.record(), steps: [Self.step("expand", "canary", "t1", .applied)],
            measurements: [measurement(.pass, at: old), measurement(.fail, at: new)])
        #expect(view.checks == [LiveProgress.CheckLine(check: "errors", verdict: "fail", detail: "t1: failed")])
    }
}
