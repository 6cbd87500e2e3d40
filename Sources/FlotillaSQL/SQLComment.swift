/// `-- ` lines of `text`, wrapped at about 110 columns: a comment in SQL that Flotilla writes out (plans, patterns).
public func sqlComment(_ text: String) -> String {
    var lines: [String] = []
    var line = "--"
    for word in text.split(separator: " ") {
        if line.count + word.count + 1 > 110, line != "--" {
            lines.append(line)
            line = "--"
        }
        line += " " + word
    }
    lines.append(line)
    return lines.joined(separator: "\n")
}
