// Statement.setQueryTimeout against a server (Stratum or PostgreSQL): the driver sends a CancelRequest
// when the timeout passes. Prints "key=value" lines; the test (cancel.e2e.test.ts) reads them.
// Usage: java JdbcCancel.java <port> <database> <user> <long query>
import java.sql.*;

public class JdbcCancel {
  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/" + args[1];
    try (Connection c = DriverManager.getConnection(url, args[2], "")) {
      try (Statement s = c.createStatement()) {
        s.setQueryTimeout(1);
        long t0 = System.nanoTime();
        try {
          s.executeQuery(args[3]);
          System.out.println("state=none");
        } catch (SQLException e) {
          System.out.println("state=" + e.getSQLState());
          System.out.println("message=" + e.getMessage().replace('\n', ' '));
        }
        System.out.println("ms=" + (System.nanoTime() - t0) / 1_000_000);
      }
      try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT 41 + 1")) {
        r.next();
        System.out.println("next=" + r.getInt(1));
      }
    }
  }
}
