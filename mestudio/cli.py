def main(argv=None):
    print("mestudio 0.1.0")
    return 0
