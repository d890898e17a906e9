// What DBeaver does through a JDBC driver, in a few statements: server-side prepared statements
// with bound values, a result set, a statement the bastion refuses (its SQLSTATE printed), and
// the connection still usable afterwards. Run as `java -cp <driver jar> JdbcProbe.java URL USER
// PASSWORD` (Java's source-file mode).
import java.sql.*;

public class JdbcProbe {
    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE jdbc_items (id INT PRIMARY KEY, name VARCHAR(40))");
            }
            try (PreparedStatement p = c.prepareStatement("INSERT INTO jdbc_items VALUES (?, ?)")) {
                for (int i = 1; i <= 3; i++) {
                    p.setInt(1, i);
                    p.setString(2, "item-" + i);
                    p.executeUpdate();
                }
            }
            try (PreparedStatement p =
                    c.prepareStatement("SELECT name FROM jdbc_items WHERE id > ? ORDER BY id")) {
                for (int round = 0; round < 2; round++) {
                    p.setInt(1, 1 + round);
                    try (ResultSet r = p.executeQuery()) {
                        while (r.next()) {
                            System.out.println(r.getString(1));
                        }
                    }
                }
            }
            try (PreparedStatement p = c.prepareStatement("DROP TABLE jdbc_items")) {
                p.execute();
                System.out.println("dropped");
            } catch (SQLException e) {
                System.out.println("refused " + e.getSQLState());
            }
            try (Statement s = c.createStatement();
                    ResultSet r = s.executeQuery("SELECT count(*) FROM jdbc_items")) {
                r.next();
                System.out.println(r.getInt(1));
            }
        }
    }
}
