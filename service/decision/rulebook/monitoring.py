"""(being converted)"""
