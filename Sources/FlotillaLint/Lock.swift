/// PostgreSQL 15 table lock modes, as the docs name them.
enum Lock {
    static let none = "none"
    static let accessShare = "ACCESS SHARE"
    static let rowShare = "ROW SHARE"
    static let rowExclusive = "ROW EXCLUSIVE"
    static let shareUpdateExclusive = "SHARE UPDATE EXCLUSIVE"
    static let share = "SHARE"
    static let shareRowExclusive = "SHARE ROW EXCLUSIVE"
    static let exclusive = "EXCLUSIVE"
    static let accessExclusive = "ACCESS EXCLUSIVE"
}
