import FlotillaPostgres
import FlotillaTestSupport
import Foundation
import Testing

struct TestClusterTests {
    @Test(.timeLimit(.minutes(10)))
    func freshDatabasesAreDistinctAndUsable() async throws {
        let first = try await TestCluster.shared.freshDatabase()
        let second = try await TestCluster.shared.freshDatabase(prefix: "other")
        #expect(first.database != second.database)
        #expect(first.database.hasPrefix("t_"))
        #expect(second.database.hasPrefix("other_"))
        #expect(first.with(database: "x") == second.with(database: "x"))

        _ = try psql(first, "CREATE TABLE only_in_first (id int); INSERT INTO only_in_first VALUES (1), (2)")
        #expect(try psql(first, "SELECT count(*) FROM only_in_first") == "2")
        #expect(try psql(first, "SELECT current_database()") == first.database)
        #expect(try psql(second, "SELECT current_database()") == second.database)
        #expect(try psql(second, "SELECT to_regclass('only_in_first') IS NULL") == "t")
    }

    @Test(.timeLimit(.minutes(10)))
    func oneClusterPerProcess() async throws {
        let url = try await TestCluster.shared.url()
        #expect(try await TestCluster.shared.url() == url)
        #expect(url.user == "flotilla")
        #expect(url.database == "postgres")
        // Its folder is a fresh one under /tmp, marked with this process as its owner.
        let dataDirectory = try psql(url, "SHOW data_directory")
        #expect(dataDirectory.hasPrefix("/tmp/\(TestCluster.folderPrefix)."))
        let folder = URL(fileURLWithPath: dataDirectory).deletingLastPathComponent()
        let owner = try String(contentsOf: folder.appendingPathComponent("owner.pid"), encoding: .utf8)
        #expect(owner.trimmingCharacters(in: .whitespacesAndNewlines) == "\(getpid())")
    }

    @Test(.timeLimit(.minutes(10)))
    func psqlReportsErrorsWithoutThePassword() async throws {
        let url = try await TestCluster.shared.freshDatabase()
        let password = try #require(url.password)
        #expect {
            try psql(url, "SELECT * FROM no_such_table")
        } throws: { error in
            let text = "\(error)"
            return text.contains("no_such_table") && !text.contains(password)
        }
    }
}
