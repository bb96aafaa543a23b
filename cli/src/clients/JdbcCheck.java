// A JDBC client session against Stratum (PostgreSQL JDBC driver from Debian's libpostgresql-jdbc-java).
// Prints one "key=value" line per check; the test (jdbc.e2e.test.ts) reads them.
import java.sql.*;
import java.util.UUID;

public class JdbcCheck {
  public static void main(String[] args) throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/stratum";
    try (Connection c = DriverManager.getConnection(url, "stratum", "")) {
      System.out.println("server=" + c.getMetaData().getDatabaseProductVersion());
      try (Statement s = c.createStatement()) {
        s.execute("CREATE TABLE jdbc_t (id bigint PRIMARY KEY, n integer NOT NULL, d double precision, s text, b boolean, ts timestamp, u uuid)");
      }
      // Enough executions to pass prepareThreshold (5): named server-side statements and binary transfer.
      try (PreparedStatement p = c.prepareStatement("INSERT INTO jdbc_t (id, n, d, s, b, ts, u) VALUES (?, ?, ?, ?, ?, ?, ?)")) {
        for (int i = 1; i <= 12; i++) {
          p.setLong(1, i);
          p.setInt(2, i * 10);
          p.setDouble(3, i / 4.0);
          p.setString(4, "row " + i);
          p.setBoolean(5, i % 2 == 0);
          p.setTimestamp(6, Timestamp.valueOf("2024-03-0" + (1 + i % 9) + " 12:34:56.5"));
          p.setObject(7, UUID.fromString("00000000-0000-7000-8000-0000000000" + String.format("%02d", i)));
          p.executeUpdate();
        }
      }
      try (PreparedStatement p = c.prepareStatement("SELECT id, n, d, s, b, ts, u FROM jdbc_t WHERE id = ?")) {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= 12; i++) {
          p.setLong(1, i);
          try (ResultSet r = p.executeQuery()) {
            r.next();
            sb.append(r.getLong(1)).append(':').append(r.getInt(2)).append(':').append(r.getDouble(3)).append(':')
              .append(r.getString(4)).append(':').append(r.getBoolean(5)).append(':').append(r.getTimestamp(6)).append(':')
              .append(r.getObject(7)).append(';');
          }
        }
        System.out.println("points=" + sb);
      }
      try (PreparedStatement p = c.prepareStatement("SELECT b, count(*), sum(n) FROM jdbc_t WHERE n > ? GROUP BY b ORDER BY b")) {
        for (int k = 0; k < 7; k++) {
          p.setInt(1, 20);
          try (ResultSet r = p.executeQuery()) {
            StringBuilder sb = new StringBuilder();
            while (r.next()) sb.append(r.getBoolean(1)).append(':').append(r.getLong(2)).append(':').append(r.getLong(3)).append(';');
            if (k == 6) System.out.println("groups=" + sb);
          }
        }
      }
      try (Statement s = c.createStatement()) {
        s.executeQuery("SELECT * FROM missing_table");
      } catch (SQLException e) {
        System.out.println("error=" + e.getSQLState());
      }
      try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT 1 + 1")) {
        r.next();
        System.out.println("after_error=" + r.getInt(1));
      }
    }
  }
}
