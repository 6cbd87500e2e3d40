import FlotillaEngine
import Foundation

/// A check's measurements over time as an inline SVG: one dot per numeric reading, coloured by its verdict, and the
/// check's thresholds as dashed lines. Styling is in attributes only (the Content-Security-Policy has no inline style).
enum DashboardChart {
    static let width = 640.0
    static let height = 160.0
    static let margin = (left: 48.0, right: 8.0, top: 10.0, bottom: 20.0)

    /// The thresholds a measurement was judged against, as its detail says them (`within 0…5`, `at most 5`,
    /// `at least 1`, `above max 5`, `below min 1`).
    static func thresholds(_ details: [String]) -> (min: Double?, max: Double?) {
        var low: Double?
        var high: Double?
        func number(after marker: String, in text: String) -> Double? {
            guard let range = text.range(of: marker) else { return nil }
            let rest = text[range.upperBound...].prefix { "0123456789.-+eE".contains($0) }
            return Double(rest)
        }
        for detail in details {
            if let range = detail.range(of: "within ") {
                let parts = detail[range.upperBound...].split(separator: "…", maxSplits: 1)
                if parts.count == 2 {
                    low = low ?? Double(parts[0])
                    high = high ?? Double(parts[1].prefix { "0123456789.-+eE".contains($0) })
                }
            }
            low = low ?? number(after: "at least ", in: detail) ?? number(after: "below min ", in: detail)
            high = high ?? number(after: "at most ", in: detail) ?? number(after: "above max ", in: detail)
        }
        return (low, high)
    }

    static func svg(_ measurements: [CheckMeasurement]) -> String {
        let points = measurements.compactMap { measurement -> (Date, Double, CheckMeasurement)? in
            guard let text = measurement.value?.trimmingCharacters(in: .whitespaces), let value = Double(text),
                value.isFinite
            else { return nil }
            return (measurement.at, value, measurement)
        }
        guard !measurements.isEmpty else { return "<p class=\"muted\">no measurements yet</p>\n" }
        if points.isEmpty { return verdictStrip(measurements) }
        let (low, high) = thresholds(measurements.map(\.detail))
        let values = points.map(\.1) + [low, high].compactMap { $0 }
        var bottom = values.min()!
        var top = values.max()!
        if top == bottom {
            bottom -= 1
            top += 1
        }
        let pad = (top - bottom) * 0.08
        bottom -= pad
        top += pad
        let start = points.first!.0.timeIntervalSince1970
        let span = max(points.last!.0.timeIntervalSince1970 - start, 1)
        let plotWidth = width - margin.left - margin.right
        let plotHeight = height - margin.top - margin.bottom
        func x(_ date: Date) -> Double { margin.left + (date.timeIntervalSince1970 - start) / span * plotWidth }
        func y(_ value: Double) -> Double { margin.top + (top - value) / (top - bottom) * plotHeight }
        func f(_ number: Double) -> String { String(format: "%.1f", number) }

        var svg =
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"measurements over time\">"
        svg +=
            "<rect x=\"\(f(margin.left))\" y=\"\(f(margin.top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"#fafafa\" stroke=\"#ccc\"/>"
        for (label, value) in [("max", high), ("min", low)] {
            guard let value else { continue }
            svg +=
                "<line class=\"threshold\" x1=\"\(f(margin.left))\" x2=\"\(f(width - margin.right))\" y1=\"\(f(y(value)))\" y2=\"\(f(y(value)))\" stroke=\"#c62828\" stroke-dasharray=\"6 4\"/>"
            svg +=
                "<text x=\"\(f(width - margin.right - 4))\" y=\"\(f(y(value) - 3))\" text-anchor=\"end\" font-size=\"10\" fill=\"#c62828\">\(label) \(HTML.escape(format(value)))</text>"
        }
        for value in [top - pad, bottom + pad] {
            svg +=
                "<text x=\"\(f(margin.left - 4))\" y=\"\(f(y(value) + 3))\" text-anchor=\"end\" font-size=\"10\" fill=\"#555\">\(HTML.escape(format(value)))</text>"
        }
        let path = points.map { "\(f(x($0.0))),\(f(y($0.1)))" }.joined(separator: " ")
        svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"#90a4ae\" stroke-width=\"1\"/>"
        for (date, value, measurement) in points {
            let colour = colour(measurement.verdict)
            let title =
                "\(measurement.target) \(DashboardPage.clock(date)): \(measurement.verdict.rawValue) — \(measurement.detail)"
            svg +=
                "<circle cx=\"\(f(x(date)))\" cy=\"\(f(y(value)))\" r=\"3\" fill=\"\(colour)\"><title>\(HTML.escape(title))</title></circle>"
        }
        svg +=
            "<text x=\"\(f(margin.left))\" y=\"\(f(height - 5))\" font-size=\"10\" fill=\"#555\">\(HTML.escape(DashboardPage.clock(points.first!.0)))</text>"
        svg +=
            "<text x=\"\(f(width - margin.right))\" y=\"\(f(height - 5))\" text-anchor=\"end\" font-size=\"10\" fill=\"#555\">\(HTML.escape(DashboardPage.clock(points.last!.0)))</text>"
        return svg + "</svg>\n"
    }

    /// For a check without numbers (a query that returns true or false, an HTTP probe): its readings over time, one
    /// dot each in the row of its verdict.
    static func verdictStrip(_ measurements: [CheckMeasurement]) -> String {
        let rows: [CheckMeasurement.Verdict] = [.pass, .inconclusive, .error, .fail]
        let rowHeight = 16.0
        let left = 80.0  // room for "inconclusive"
        let stripHeight = margin.top + rowHeight * Double(rows.count) + margin.bottom
        let start = measurements.first!.at.timeIntervalSince1970
        let span = max(measurements.last!.at.timeIntervalSince1970 - start, 1)
        let plotWidth = width - left - margin.right
        func f(_ number: Double) -> String { String(format: "%.1f", number) }
        var svg =
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(stripHeight))\" width=\"\(Int(width))\" height=\"\(Int(stripHeight))\" role=\"img\" aria-label=\"verdicts over time\">"
        for (index, verdict) in rows.enumerated() {
            let y = margin.top + rowHeight * (Double(index) + 0.5)
            svg +=
                "<line x1=\"\(f(left))\" x2=\"\(f(width - margin.right))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#eee\"/>"
            svg +=
                "<text x=\"\(f(left - 4))\" y=\"\(f(y + 3))\" text-anchor=\"end\" font-size=\"10\" fill=\"#555\">\(verdict.rawValue)</text>"
        }
        for measurement in measurements {
            let index = Double(rows.firstIndex(of: measurement.verdict) ?? 0)
            let x = left + (measurement.at.timeIntervalSince1970 - start) / span * plotWidth
            let y = margin.top + rowHeight * (index + 0.5)
            let title =
                "\(measurement.target) \(DashboardPage.clock(measurement.at)): \(measurement.verdict.rawValue) — \(measurement.detail)"
            svg +=
                "<circle cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"3\" fill=\"\(colour(measurement.verdict))\"><title>\(HTML.escape(title))</title></circle>"
        }
        svg +=
            "<text x=\"\(f(left))\" y=\"\(f(stripHeight - 5))\" font-size=\"10\" fill=\"#555\">\(HTML.escape(DashboardPage.clock(measurements.first!.at)))</text>"
        svg +=
            "<text x=\"\(f(width - margin.right))\" y=\"\(f(stripHeight - 5))\" text-anchor=\"end\" font-size=\"10\" fill=\"#555\">\(HTML.escape(DashboardPage.clock(measurements.last!.at)))</text>"
        return svg + "</svg>\n"
    }

    static func colour(_ verdict: CheckMeasurement.Verdict) -> String {
        switch verdict {
        case .pass: return "#2e7d32"
        case .fail: return "#c62828"
        case .error: return "#6a1b9a"
        case .inconclusive: return "#f9a825"
        }
    }

    static func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(format: "%.3g", number)
    }
}
